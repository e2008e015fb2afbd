/**
 * What a deploy that died mid-switch leaves on a host, recognised rather than guessed. Every container a deploy
 * creates carries its deploy id (label `pipeline.deploy`); before a host switches anything, the deploy writes a
 * pending record there naming itself and, per service, the verified container that ran before it, and it clears the
 * record once the whole environment is verified. A record left on a host is a deploy that never got there: its
 * containers are unverified leftovers, and the container it names per service is what the host really runs.
 */
import { LABEL_PREFIX } from './plan.js';

/** The label holding the id of the deploy that created a container. */
export const DEPLOY_LABEL = `${LABEL_PREFIX}deploy`;

/** A service's container before a deploy switched it: brought back if the deploy does not get verified. */
export interface PreviousContainer {
  id: string;
  running: boolean;
}

/** The record a deploy keeps on each host from the start of its switch until the environment is verified. */
export interface PendingDeploy {
  /** The deploy's id, on the containers it creates. */
  id: string;
  environment: string;
  tag?: string;
  /** `user@machine`, as on its containers. */
  deployedBy: string;
  startedAt: string;
  /** Deploys whose containers on this host are not verified: this one, and interrupted ones before it. */
  unverified: string[];
  /** Per service: the verified container that ran before the first of those deploys. */
  previous: Record<string, PreviousContainer>;
}

/** A container of one of the project's services, as the engine lists it. */
export interface ServiceContainer {
  id: string;
  service: string;
  name: string;
  running: boolean;
  deploy?: string;
}

/** One service of a host as a deploy should see it, the record taken into account. */
export interface RecognisedService {
  /**
   * What runs, for the change planner: the container at the service's name when it is not a leftover, else the
   * previous container the record names; `running` is as it was before the interrupted deploy stopped it.
   */
  current?: PreviousContainer;
  /** `current` is not at the service's name (the interrupted deploy renamed it aside): it is put back first. */
  renamedAside: boolean;
  /** Containers of unverified deploys: removed by the next deploy, never kept for rollback. */
  leftovers: ServiceContainer[];
}

/**
 * Recognises one service: `named` is the container holding its name (whoever made it), `containers` every container
 * of the project labelled with this service.
 */
export function recogniseService(
  service: string,
  named: PreviousContainer | undefined,
  containers: readonly ServiceContainer[],
  pending: PendingDeploy | undefined,
): RecognisedService {
  const unverified = new Set(pending?.unverified ?? []);
  const leftovers = containers.filter((c) => c.service === service && c.deploy !== undefined && unverified.has(c.deploy));
  const isLeftover = (id: string) => leftovers.some((c) => c.id === id);
  const recorded = pending?.previous[service];
  if (named && !isLeftover(named.id)) {
    return {
      current: { id: named.id, running: named.id === recorded?.id ? recorded.running : named.running },
      renamedAside: false,
      leftovers,
    };
  }
  if (recorded && containers.some((c) => c.id === recorded.id) && !isLeftover(recorded.id)) {
    return { current: { ...recorded }, renamedAside: true, leftovers };
  }
  return { renamedAside: false, leftovers };
}

/** Every unverified container on the host, whichever service it belongs to. */
export function allLeftovers(containers: readonly ServiceContainer[], pending: PendingDeploy | undefined): ServiceContainer[] {
  const unverified = new Set(pending?.unverified ?? []);
  return containers.filter((c) => c.deploy !== undefined && unverified.has(c.deploy));
}

/**
 * The record a deploy writes on a host as it starts switching: itself and the earlier unverified deploys (whose
 * leftovers it is about to remove), and for each service what it found running, recognised as above.
 */
export function pendingRecord(
  deploy: Omit<PendingDeploy, 'unverified' | 'previous'>,
  before: PendingDeploy | undefined,
  current: ReadonlyMap<string, PreviousContainer>,
): PendingDeploy {
  const unverified = [...new Set([...(before?.unverified ?? []), deploy.id])];
  return { ...deploy, unverified, previous: Object.fromEntries([...current].map(([service, container]) => [service, { ...container }])) };
}

/** A record as read from a host; anything unreadable is no record. */
export function parsePending(text: string): PendingDeploy | undefined {
  try {
    const record = JSON.parse(text) as PendingDeploy | null;
    const valid =
      typeof record === 'object' &&
      record !== null &&
      typeof record.id === 'string' &&
      Array.isArray(record.unverified) &&
      record.unverified.every((id) => typeof id === 'string') &&
      typeof record.previous === 'object' &&
      record.previous !== null;
    return valid ? record : undefined;
  } catch {
    return undefined;
  }
}

/** "develop by alice@ci-7, started 2030-01-01T12:00:00.000Z" */
export function describePending(pending: PendingDeploy): string {
  return `${pending.tag ?? 'a release'} by ${pending.deployedBy}, started ${pending.startedAt}`;
}
