import { hasImage } from '../../adapters/docker.js';
import type { HostConnection } from '../../adapters/ports.js';
import { credentialsFor, type RegistryAccess } from '../../core/registry.js';
import { nodesOf, type SwarmNode, type SwarmServicePlan } from '../../core/swarm-spec.js';
import { HostError } from '../../errors.js';
import { pullOn } from '../pull.js';
import type { Log } from '../target.js';

/** What the nodes' pulls (`pullWithoutAuth`) need of the manager's deploy. */
export interface NodePulls {
  /** The manager's id, for errors. */
  id: string;
  nodes: readonly SwarmNode[];
  /** A node's name, by id. */
  names: ReadonlyMap<string, string>;
  /** The manager's own node and connection: it is not connected to twice. */
  managerNode: string | undefined;
  manager: HostConnection;
  registry: RegistryAccess | undefined;
  parallel: number;
  log: Log;
  connectNode(address: string): Promise<HostConnection>;
}

/** Every node of a service's roles pulls its image by digest with the credentials (sent with the pull only). */
export async function pullOnNodes(ctx: NodePulls, pulls: readonly { svc: SwarmServicePlan; image: string }[]): Promise<void> {
  const wanted = new Map<string, Set<string>>();
  for (const { svc, image } of pulls) {
    if (!credentialsFor(ctx.registry, image)) continue; // nodes pull it themselves, without credentials
    for (const node of nodesOf(svc.roles, ctx.nodes)) {
      const images = wanted.get(node.id) ?? new Set<string>();
      wanted.set(node.id, images.add(image));
    }
  }
  const queue = [...wanted];
  const next = async (): Promise<void> => {
    for (let item = queue.shift(); item; item = queue.shift())
      await pullOnNode(ctx, ctx.nodes.find((n) => n.id === item![0])!, [...item[1]]);
  };
  await Promise.all(Array.from({ length: Math.min(ctx.parallel, queue.length) }, next));
}

async function pullOnNode(ctx: NodePulls, node: SwarmNode, images: string[]): Promise<void> {
  const name = ctx.names.get(node.id)!;
  const own = node.id === ctx.managerNode;
  const connection = own
    ? ctx.manager
    : await ctx.connectNode(node.address).catch((error: Error) => {
        throw new HostError(ctx.id, `cannot reach node ${name} to pull: ${error.message}`, { cause: error });
      });
  try {
    for (const image of images) {
      if (await hasImage(connection.docker, image)) continue;
      await pullOn(connection.docker, image, credentialsFor(ctx.registry, image), ctx.log, `pulling ${image} on ${name}`).catch(
        (error: Error) => {
          throw new HostError(ctx.id, `${name}: ${error.message}`, { cause: error });
        },
      );
    }
  } finally {
    if (!own) await connection.close();
  }
}
