import type Docker from 'dockerode';
import { findContainer } from '../../adapters/service.js';
import type { ObservedContainer } from '../../core/changes.js';
import { type HostPlan, LABEL_PREFIX } from '../../core/plan.js';

/** A service's current container on a host, as inspected and as the change planner reads it. */
export interface CurrentContainer {
  info: Docker.ContainerInspectInfo | Docker.ContainerInfo;
  observed: ObservedContainer;
}

/**
 * What runs on a host for the services it should run (their containers, by name) and for the project's services
 * that the config no longer puts on it (by label): the change planner's view of the host.
 */
export async function observeHost(docker: Docker, host: HostPlan, project: string): Promise<Map<string, CurrentContainer>> {
  const planned = new Set(host.services.map((svc) => svc.service));
  const [named, labelled] = await Promise.all([
    Promise.all(host.services.map(async (svc) => [svc.service, await findContainer(docker, svc.container)] as const)),
    docker.listContainers({ all: true, filters: { label: [`${LABEL_PREFIX}project=${project}`] } }),
  ]);
  const current = new Map<string, CurrentContainer>();
  for (const [service, info] of named) {
    if (info) current.set(service, { info, observed: observed(info.State.Running, info.Config.Image, info.Config.Labels ?? {}) });
  }
  for (const info of labelled) {
    const service = info.Labels[`${LABEL_PREFIX}service`];
    if (service && !planned.has(service) && info.Names.includes(`/${project}-${service}`)) {
      current.set(service, { info, observed: observed(info.State === 'running', info.Image, info.Labels) });
    }
  }
  return current;
}

function observed(running: boolean, image: string, labels: Record<string, string>): ObservedContainer {
  const tag = labels[`${LABEL_PREFIX}tag`];
  const digest = labels[`${LABEL_PREFIX}digest`];
  return { running, image, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The planner's input: service → what runs. */
export function observedServices(current: ReadonlyMap<string, CurrentContainer>): Map<string, ObservedContainer> {
  return new Map([...current].map(([service, { observed: seen }]) => [service, seen]));
}
