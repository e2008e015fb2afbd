import type { ServicePlan } from './plan.js';

/** What a host reports of a service's current container (the one named after it). */
export interface ObservedContainer {
  running: boolean;
  /** The image it was created from, as the engine names it. */
  image: string;
  /** The release tag it runs (its label), when the pipeline created it. */
  tag?: string;
  digest?: string;
}

/**
 * What a deploy does to one service of a host:
 * - start: nothing runs it (not deployed, or a `redeploy: false` service that is not running);
 * - replace: its container is kept for rollback and a new one takes its name;
 * - leave: a `redeploy: false` service that runs is left alone;
 * - remove: the host runs a container of the project's service that the config no longer puts there.
 */
export type ChangeAction = 'start' | 'replace' | 'leave' | 'remove';

/** `leftovers`: containers of deploys that died before they were verified (see core/leftovers.ts), removed by this one. */
export interface ServiceChange {
  service: string;
  action: ChangeAction;
  current?: ObservedContainer;
  leftovers?: number;
}

/**
 * The action for every service of a host, from the services it should run and what it runs now (an interrupted
 * deploy's leftovers already set aside, and counted in `leftovers` per service); `pipeline plan` and the deploy both use it.
 */
export function planChanges(
  services: readonly ServicePlan[],
  observed: ReadonlyMap<string, ObservedContainer>,
  leftovers: ReadonlyMap<string, number> = new Map(),
): ServiceChange[] {
  const left = (service: string) => (leftovers.get(service) ? { leftovers: leftovers.get(service)! } : {});
  const changes = services.map((svc): ServiceChange => {
    const current = observed.get(svc.service);
    const action = !svc.redeploy ? (current?.running ? 'leave' : 'start') : current ? 'replace' : 'start';
    return { service: svc.service, action, ...(current ? { current } : {}), ...left(svc.service) };
  });
  for (const [service, current] of observed) {
    if (!services.some((svc) => svc.service === service)) changes.push({ service, action: 'remove', current, ...left(service) });
  }
  return changes;
}

/** `develop (sha256:1a2b3c4d5e6f)`: what runs, as people read it. */
export function describeContainer(container: ObservedContainer): string {
  return `${container.tag ?? container.image}${container.digest ? ` (${container.digest.slice(0, 19)})` : ''}`;
}

/** A change as `pipeline plan` prints it; `target` is what the deploy would run. */
export function describeChange(change: ServiceChange, redeploy: boolean, target: string): string {
  const leftovers = change.leftovers ? `; removes ${change.leftovers} unverified container(s) of an interrupted deploy` : '';
  return `${describeAction(change, redeploy, target)}${leftovers}`;
}

function describeAction(change: ServiceChange, redeploy: boolean, target: string): string {
  const { current } = change;
  switch (change.action) {
    case 'leave':
      return `left alone: ${describeContainer(current!)} is running`;
    case 'start':
      return `start ${target} (${redeploy ? 'not deployed yet' : 'not running'})`;
    case 'replace':
      return `replace ${describeContainer(current!)}${current!.running ? '' : ' (stopped)'} → ${target}`;
    case 'remove':
      return `remove ${describeContainer(current!)} (no longer on this host)`;
  }
}

/** One service on a host after a deploy: what was done, and what runs there now. */
export type ServiceAction = 'started' | 'replaced' | 'created' | 'updated' | 'left running' | 'rolled back' | 'removed';
export interface ServiceResult {
  service: string;
  container: string;
  image: string;
  action: ServiceAction;
  digest?: string;
}
