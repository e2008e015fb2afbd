/**
 * The swarm as the manager's Engine API shows it (nodes, services, tasks) in the core's terms, and the few calls that
 * change it: create, update or roll back a service, remove it, and the project's overlay network.
 */
import type Docker from 'dockerode';
import { LABEL_PREFIX } from '../../core/plan.js';
import type { RegistryAuth } from '../../core/registry.js';
import { type ObservedService, parseHistory, type TemplateShape, templateFingerprint } from '../../core/swarm-changes.js';
import type { TaskView } from '../../core/swarm-rollout.js';
import { HISTORY, STACK_NAMESPACE, type SwarmNode, type SwarmPlan, type SwarmServiceSpec, specImage } from '../../core/swarm-spec.js';
import { HostError } from '../../errors.js';
import { engineCall } from '../engine-call.js';

/** A service as the Engine returns it, with the parts the deploy reads. */
export type EngineService = Omit<Docker.Service, 'Spec' | 'PreviousSpec'> & { Spec: EngineSpec; PreviousSpec?: EngineSpec };
type EngineSpec = Omit<Docker.ServiceSpec, 'TaskTemplate'> & { Name: string; TaskTemplate?: TemplateShape };

export interface ServiceRecord {
  raw: EngineService;
  observed: ObservedService;
}

interface EngineTask {
  ID: string;
  Slot?: number;
  NodeID?: string;
  DesiredState: string;
  Status: { State: string; Err?: string; Timestamp?: string; ContainerStatus?: { ContainerID?: string } };
  Spec?: TemplateShape;
}

interface EngineNode {
  ID: string;
  Description?: { Hostname?: string };
  Spec?: { Labels?: Record<string, string>; Availability?: string };
  Status?: { State?: string; Addr?: string };
  ManagerStatus?: { Addr?: string };
}

/** Checks that the engine manages a swarm; resolves with its node id. */
export async function checkManager(docker: Docker, member: string): Promise<string> {
  const info = await engineCall(
    member,
    docker.info() as Promise<{ Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string } }>,
    'reading the engine',
  );
  const swarm = info.Swarm ?? {};
  if (swarm.LocalNodeState !== 'active')
    throw new HostError(
      member,
      `this engine is not part of a swarm (swarm: ${swarm.LocalNodeState || 'inactive'}): swarm.manager must name a manager of the swarm`,
    );
  if (!swarm.ControlAvailable)
    throw new HostError(
      member,
      'this engine is a swarm worker, not a manager: swarm.manager must name a manager (docker node ls on a manager lists them)',
    );
  return swarm.NodeID ?? '';
}

export async function readNodes(docker: Docker, member: string): Promise<SwarmNode[]> {
  const nodes = await engineCall(member, docker.listNodes() as Promise<EngineNode[]>, 'listing the swarm nodes');
  return nodes.map((node) => ({
    id: node.ID,
    hostname: node.Description?.Hostname ?? node.ID.slice(0, 12),
    address: nodeAddress(node),
    ...(node.Spec?.Labels?.role !== undefined ? { role: node.Spec.Labels.role } : {}),
    available: node.Status?.State === 'ready' && node.Spec?.Availability === 'active',
  }));
}

/** A manager may report 0.0.0.0 as its own address; its manager address has the real one. */
function nodeAddress(node: EngineNode): string {
  const addr = node.Status?.Addr;
  if (addr && addr !== '0.0.0.0' && addr !== '127.0.0.1') return addr;
  return node.ManagerStatus?.Addr?.replace(/:\d+$/, '') ?? addr ?? '';
}

/**
 * The environment's services on the swarm: those named as the config names them, and the project's services of this
 * environment that the config no longer has (by their labels), keyed by pipeline service.
 */
export async function readServices(
  docker: Docker,
  member: string,
  plan: Pick<SwarmPlan, 'project' | 'environment' | 'services'>,
): Promise<Map<string, ServiceRecord>> {
  const all = await engineCall(member, docker.listServices({ status: true }) as Promise<EngineService[]>, 'listing the swarm services');
  const byName = new Map(plan.services.map((svc) => [svc.container, svc.service]));
  const records = new Map<string, ServiceRecord>();
  for (const raw of all) {
    const labels = raw.Spec.Labels ?? {};
    const own =
      labels[STACK_NAMESPACE] === plan.project && labels[`${LABEL_PREFIX}environment`] === plan.environment
        ? labels[`${LABEL_PREFIX}service`]
        : undefined;
    const service = byName.get(raw.Spec.Name) ?? own;
    if (service !== undefined) records.set(service, { raw, observed: observedService(raw, service) });
  }
  return records;
}

function observedService(raw: EngineService, service: string): ObservedService {
  const labels = raw.Spec.Labels ?? {};
  const image = specImage(raw.Spec);
  const environment = labels[`${LABEL_PREFIX}environment`];
  return {
    id: raw.ID,
    service,
    ...(environment !== undefined ? { environment } : {}),
    desired: raw.ServiceStatus?.DesiredTasks ?? raw.Spec.Mode?.Replicated?.Replicas ?? 0,
    running: raw.ServiceStatus?.RunningTasks ?? 0,
    ...(image ? { image } : {}),
    history: parseHistory(labels[HISTORY]),
  };
}

export function inspectService(docker: Docker, member: string, id: string): Promise<EngineService> {
  return engineCall(member, docker.getService(id).inspect() as Promise<EngineService>, `inspecting service ${id.slice(0, 12)}`);
}

/** The service's tasks; `current` marks those of the template the service has now. */
export async function readTasks(docker: Docker, member: string, service: EngineService): Promise<TaskView[]> {
  const tasks = await engineCall(
    member,
    docker.listTasks({ filters: { service: [service.ID] } }) as Promise<EngineTask[]>,
    `listing the tasks of ${service.Spec.Name}`,
  );
  const current = templateFingerprint(service.Spec.TaskTemplate);
  return tasks.map((task) => {
    const image = task.Spec?.ContainerSpec?.Image;
    const tag =
      task.Spec?.ContainerSpec?.Labels?.[`${LABEL_PREFIX}tag`] ??
      (image ? specImage({ TaskTemplate: { ContainerSpec: { Image: image } } })?.tag : undefined);
    return {
      id: task.ID,
      ...(task.Slot ? { slot: task.Slot } : {}),
      ...(task.NodeID ? { nodeId: task.NodeID } : {}),
      state: task.Status.State,
      desired: task.DesiredState,
      ...(task.Status.Err ? { err: task.Status.Err } : {}),
      ...(task.Status.Timestamp ? { at: task.Status.Timestamp } : {}),
      current: templateFingerprint(task.Spec) === current,
      ...(tag ? { tag } : {}),
      ...(image ? { image } : {}),
      ...(task.Status.ContainerStatus?.ContainerID ? { containerId: task.Status.ContainerStatus.ContainerID } : {}),
    };
  });
}

/**
 * Credentials travel in X-Registry-Auth: Swarm keeps them with the service, for the nodes to pull. An empty record
 * (pullWithoutAuth) replaces credentials a service was given before, so none stay in its spec.
 */
export type ServiceAuth = RegistryAuth | Record<string, never> | undefined;

export async function createService(docker: Docker, member: string, spec: SwarmServiceSpec, auth: ServiceAuth): Promise<string> {
  const created = await engineCall(
    member,
    docker.createService(auth as Docker.AuthConfig, spec as Docker.ServiceSpec) as Promise<{ id?: string; ID?: string }>,
    `creating service ${spec.Name}`,
  );
  return created.id ?? created.ID!;
}

/** Gives the service a new spec, or (`rollback`) asks Swarm for the spec it had before. */
export async function updateService(
  docker: Docker,
  member: string,
  service: EngineService,
  spec: SwarmServiceSpec | EngineService['Spec'],
  auth: ServiceAuth,
  rollback = false,
): Promise<void> {
  const query = { version: service.Version?.Index, ...(rollback ? { rollback: 'previous' } : {}) };
  const request = docker
    .getService(service.ID)
    .update(auth as never, { _query: query, _body: spec } as never) as unknown as Promise<unknown>;
  await engineCall(member, request, `${rollback ? 'rolling back' : 'updating'} service ${service.Spec.Name}`);
}

export async function removeService(docker: Docker, member: string, id: string, name: string): Promise<void> {
  await engineCall(
    member,
    docker
      .getService(id)
      .remove()
      .catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 404) throw error;
      }),
    `removing service ${name}`,
  );
}

/** The project's overlay network, made as `docker stack deploy` makes it; resolves with its id. */
export async function ensureNetwork(docker: Docker, member: string, name: string, project: string): Promise<string> {
  const found = (await docker
    .getNetwork(name)
    .inspect()
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode === 404) return undefined;
      throw error;
    })) as { Id: string; Driver?: string; Scope?: string } | undefined;
  if (found) {
    if (found.Driver !== 'overlay' || found.Scope !== 'swarm')
      throw new HostError(
        member,
        `network ${name} exists but is not a swarm overlay network (driver ${found.Driver}, scope ${found.Scope})`,
      );
    return found.Id;
  }
  const created = await engineCall(
    member,
    docker.createNetwork({ Name: name, Driver: 'overlay', CheckDuplicate: true, Labels: { [STACK_NAMESPACE]: project } }),
    `creating network ${name}`,
  );
  return created.id;
}
