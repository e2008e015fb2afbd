/**
 * The seam between the deploy stage and where a release goes. The stage runs the same phases over
 * any target — preflight, lock, pull, switch, verify, undo on failure, unlock — and never knows how a
 * member is reached: a fleet of hosts over SSH, the runner's own engine (`local`), or a swarm's manager.
 */
import type { ServiceChange, ServiceResult } from '../core/changes.js';
import type { ServicePlan } from '../core/plan.js';
import type { Release } from '../core/release.js';
import type { LockFields, LockInfo } from './lock.js';

export type Log = (line: string) => void;

/** A place the phases of a deploy run on: a host of a fleet, a swarm's manager. */
export interface TargetMember {
  id: string;
  roles: string[];
}

/** What a deploy tells every member. */
export interface DeployJob {
  /** The release to deploy; undefined for a rollback, which brings back kept releases. */
  release?: Release;
  /** `pipeline rollback --to TAG`. */
  rollbackTo?: string;
  /** `user@machine`, recorded on what the deploy starts. */
  deployedBy: string;
  /** The values of a service's secret variables, by the names the container sees (see ServicePlan.secrets). */
  secretEnv(secrets: Readonly<Record<string, string>>): Record<string, string>;
  signal: AbortSignal;
}

/** One member's part of a deploy, in the order the deploy runs it. */
export interface MemberDeploy {
  readonly id: string;
  /** What each service ended as, once switched. */
  readonly results: readonly ServiceResult[];
  /** Read-only checks before anything changes; with `resolveDigest`, the digest the member sees for the release. */
  preflight(resolveDigest: boolean): Promise<string | undefined>;
  /** Fetches what the switch starts (the release by its digest, missing third-party images). */
  pull(): Promise<void>;
  /** Puts the release in place of what runs; on failure this member is put back before it throws. */
  switch(): Promise<void>;
  /** A rollback's switch: the newest kept release (or the one deployed with `rollbackTo`) comes back. */
  switchBack(): Promise<void>;
  /** Checks that what was switched runs the pinned release. */
  verify(): Promise<void>;
  /** Reverts this deploy's switch on the member (another member failed). */
  undo(): Promise<void>;
  /** After a successful deploy: removes what is no longer needed (old releases beyond those kept, retired services). */
  finish(): Promise<void>;
}

/** What a deploy of a release would do on a member, read from what it runs now: for `pipeline plan`. */
export interface MemberChanges {
  services: readonly ServicePlan[];
  changes: readonly ServiceChange[];
  /** The digest the release's tag resolves to from the member, when it runs the release. */
  digest?: string;
}

/** A service on a member as `pipeline status` shows it. */
export interface ServiceStatus {
  service: string;
  deployed: boolean;
  tag?: string;
  digest?: string;
  commit?: string;
  since?: string;
  health?: string;
  deployedBy?: string;
  /** Previous releases kept for rollback. */
  kept?: number;
  /** A swarm service's tasks: how many run of how many it should have, and the nodes they run on. */
  replicas?: { running: number; desired: number };
  nodes?: string[];
}

/** A pull a member began before the deploy (while the tests ran), untagged: the deploy's pull waits for it. */
export interface EarlyPull {
  /** What is pulled: the release by its digest. */
  readonly ref: string;
  readonly done: Promise<void>;
  /** Sends the pull's lines (its progress) to `log` from now on. */
  follow(log: Log): void;
}

/** A published address of a deployed service, for people to open. */
export interface ServiceUrl {
  host: string;
  service: string;
  url: string;
}

export interface DeployTarget {
  readonly environment: string;
  readonly members: readonly TargetMember[];
  /** Starts connecting to every member without waiting (a run does this while it builds and tests); failures wait for `open`. */
  prepare(): void;
  /**
   * Starts pulling `ref` (the release by its digest) on every member that runs the release, before the deploy: nothing
   * is tagged, started or locked. Optional: a target without it pulls in the deploy.
   */
  prefetch?(ref: string): ReadonlyMap<string, EarlyPull>;
  /** A member's part of a deploy, once its connection is open and its engine answers. */
  open(id: string, job: DeployJob, log: Log): Promise<MemberDeploy>;
  /** Takes the environment's lock on every member, or none: a held lock fails naming its holder. */
  lock(fields: LockFields): Promise<{ tookOver: LockInfo[] }>;
  unlock(): Promise<void>;
  /** Read-only looks at one member, for plan, status and lock. */
  changes(id: string, release: Release): Promise<MemberChanges>;
  status(id: string): Promise<ServiceStatus[]>;
  readLock(id: string): Promise<LockInfo | undefined>;
  /** Frees the lock on a member whoever holds it (`pipeline lock release`). */
  breakLock(id: string): Promise<void>;
  urls(): ServiceUrl[];
  /** Unlocks and disconnects; safe to call more than once. */
  close(): Promise<void>;
}
