import type Docker from 'dockerode';
import { findContainer } from '../../adapters/service.js';
import type { ObservedContainer } from '../../core/changes.js';
import { allLeftovers, DEPLOY_LABEL, type PendingDeploy, recogniseService, type ServiceContainer } from '../../core/leftovers.js';
import { type HostPlan, LABEL_PREFIX } from '../../core/plan.js';

/**
 * A service's current container on a host, as inspected and as the change planner reads it. `renamedAside`: an
 * interrupted deploy renamed it out of the service's name (see core/leftovers.ts); it is put back before the switch.
 */
export interface CurrentContainer {
  info: Docker.ContainerInspectInfo | Docker.ContainerInfo;
  observed: ObservedContainer;
  renamedAside?: boolean;
}

/** A host as a deploy sees it: what runs per service, and what an interrupted deploy left there. */
export interface HostView {
  current: Map<string, CurrentContainer>;
  /** Containers of deploys that died before they were verified: removed, never kept for rollback. */
  leftovers: ServiceContainer[];
  /** The record of the deploy that is (or was) switching the host, when there is one. */
  pending?: PendingDeploy;
}

/**
 * What runs on a host for the services it should run (their containers, by name) and for the project's services
 * that the config no longer puts on it (by label): the change planner's view of the host. With a pending record
 * left by an interrupted deploy, its containers are leftovers and the containers it replaced count as what runs.
 */
export async function observeHost(
  docker: Docker,
  host: HostPlan,
  project: string,
  pendingRecord?: PendingDeploy | Promise<PendingDeploy | undefined>,
): Promise<HostView> {
  const planned = new Set(host.services.map((svc) => svc.service));
  const [named, labelled, pending] = await Promise.all([
    Promise.all(host.services.map(async (svc) => [svc.service, await findContainer(docker, svc.container)] as const)),
    docker.listContainers({ all: true, filters: { label: [`${LABEL_PREFIX}project=${project}`] } }),
    pendingRecord,
  ]);
  const containers = labelled.flatMap((info): ServiceContainer[] => {
    const service = info.Labels[`${LABEL_PREFIX}service`];
    const deploy = info.Labels[DEPLOY_LABEL];
    return service
      ? [{ id: info.Id, service, name: info.Names[0]?.slice(1) ?? '', running: info.State === 'running', ...(deploy ? { deploy } : {}) }]
      : [];
  });
  const byName = new Map<string, Docker.ContainerInspectInfo | Docker.ContainerInfo>(
    named.flatMap(([service, info]) => (info ? [[service, info] as const] : [])),
  );
  for (const info of labelled) {
    const service = info.Labels[`${LABEL_PREFIX}service`];
    if (service && !planned.has(service) && info.Names.includes(`/${project}-${service}`)) byName.set(service, info);
  }
  const current = new Map<string, CurrentContainer>();
  for (const service of new Set([...planned, ...containers.map((c) => c.service)])) {
    const info = byName.get(service);
    const recognised = recogniseService(service, info && { id: info.Id, running: isRunning(info) }, containers, pending);
    if (!recognised.current) continue;
    const seen = recognised.current.id === info?.Id ? info : await docker.getContainer(recognised.current.id).inspect();
    current.set(service, {
      info: seen,
      observed: observed(recognised.current.running, seen),
      ...(recognised.renamedAside ? { renamedAside: true } : {}),
    });
  }
  return { current, leftovers: allLeftovers(containers, pending), ...(pending ? { pending } : {}) };
}

function isRunning(info: Docker.ContainerInspectInfo | Docker.ContainerInfo): boolean {
  return 'Config' in info ? info.State.Running : info.State === 'running';
}

function observed(running: boolean, info: Docker.ContainerInspectInfo | Docker.ContainerInfo): ObservedContainer {
  const [image, labels] = 'Config' in info ? [info.Config.Image, info.Config.Labels ?? {}] : [info.Image, info.Labels];
  const tag = labels[`${LABEL_PREFIX}tag`];
  const digest = labels[`${LABEL_PREFIX}digest`];
  return { running, image, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The planner's input: service → what runs. */
export function observedServices(current: ReadonlyMap<string, CurrentContainer>): Map<string, ObservedContainer> {
  return new Map([...current].map(([service, { observed: seen }]) => [service, seen]));
}

/** The planner's other input: service → how many containers interrupted deploys left of it. */
export function leftoverCounts(view: HostView): Map<string, number> {
  const counts = new Map<string, number>();
  for (const leftover of view.leftovers) counts.set(leftover.service, (counts.get(leftover.service) ?? 0) + 1);
  return counts;
}

/** Whether a service's current container publishes host ports itself (it ran before the service was proxied). */
export function holdsHostPorts(current: CurrentContainer): boolean {
  return hostPortsHeld(current).length > 0;
}

/** The host ports a service's current container publishes itself. */
export function hostPortsHeld(current: CurrentContainer): number[] {
  const bindings =
    'HostConfig' in current.info ? Object.values((current.info as Docker.ContainerInspectInfo).HostConfig.PortBindings ?? {}) : [];
  return bindings
    .flatMap((list) => ((list ?? []) as { HostPort?: string }[]).map((binding) => Number(binding.HostPort)))
    .filter((port) => port > 0);
}
