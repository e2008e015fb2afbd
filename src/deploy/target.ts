/**
 * The seam between the deploy stage and where a release goes. The stage runs the same phases over
 * any target — preflight, lock, pull, switch, verify, undo on failure, unlock — and never knows how a
 * member is reached: a fleet of hosts over SSH, the runner's own engine (`local`), or a swarm's manager.
 */
import type { OutputStream, Terminal } from '../adapters/container-run.js';
import type { ServiceChange, ServiceResult } from '../core/changes.js';
import type { PendingDeploy } from '../core/leftovers.js';
import type { LogLine } from '../core/logs.js';
import type { ServicePlan } from '../core/plan.js';
import type { Release } from '../core/release.js';
import type { LeaseWatch } from './environment-lock.js';
import type { LockFields, LockInfo } from './lock.js';

export type Log = (line: string) => void;

/** A place the phases of a deploy run on: a host of a fleet, a swarm's manager. */
export interface TargetMember {
  id: string;
  roles: string[];
}

/** What a deploy tells every member. */
export interface DeployJob {
  /** This deploy's id, on the containers it creates and in its pending record (see core/leftovers.ts). */
  id: string;
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

/** The config's `release`: a command run once per environment deploy, after every member pulled and before any switches. */
export interface ReleaseCommand {
  service: string;
  command: string[];
  timeoutMs: number;
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
  /**
   * Runs the release command in a one-off container of the pulled release, as its service runs (env, secrets, volumes
   * and other options), its output going to the log; the container is removed afterwards, whatever happens. A non-zero
   * exit, the timeout or the job's signal throws, the message ending with the command's last lines. A target without
   * it cannot run a release command: a deploy that has one fails before anything is switched.
   */
  runRelease?(command: ReleaseCommand): Promise<void>;
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
  /** What the deploy does to the member's proxy, when it runs proxied services. */
  proxy?: string;
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
  /** The container's id, when deployed. */
  containerId?: string;
  /** A proxied service: where the host's proxy serves it from. */
  proxy?: string;
  /** The container was started by a deploy that died before it was verified. */
  unverified?: boolean;
  /** Containers left by such deploys (the next deploy removes them). */
  leftovers?: number;
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

/** What `pipeline logs` reads of a service's container on a member. */
export interface LogsRequest {
  service: string;
  /** Lines since then (seconds since the epoch). */
  since?: number;
  /** The last lines only. */
  tail?: number;
  /** Goes on with lines as they come, until the container stops or the signal. */
  follow: boolean;
  /** `--host` on a target whose member spans nodes (a swarm): the lines of that node's tasks only. */
  host?: string;
  signal: AbortSignal;
}

/** What `pipeline exec` runs in a service on a member. */
export interface ExecRequest {
  service: string;
  command: string[];
  /** `--new`: in a one-off container of the release the service runs now, removed after, instead of its running container. */
  oneOff: boolean;
  /** The values of the service's secret variables, for a one-off container (as DeployJob's). */
  secretEnv(secrets: Readonly<Record<string, string>>): Record<string, string>;
  /** Interactive: this terminal's input and a TTY are attached; without it, output comes to `onLines`. */
  terminal?: Terminal;
  /** `--host` on a target whose member spans nodes (a swarm): only in that node's tasks. */
  host?: string;
  /** Output lines; `origin` names where they come from when the member runs the command in several places (a swarm's tasks). */
  onLines(lines: string, stream: OutputStream, origin?: string): void;
  signal: AbortSignal;
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
  /**
   * Takes the environment's lock on every member, or none: a held lock fails naming its holder (LockHeldError). The
   * lock is a lease, renewed until `unlock`; `watch` hears of renewals that fail and of a lease lost.
   */
  lock(fields: LockFields, watch?: LeaseWatch): Promise<{ tookOver: LockInfo[] }>;
  unlock(): Promise<void>;
  /** Read-only looks at one member, for plan, status and lock. */
  changes(id: string, release: Release): Promise<MemberChanges>;
  status(id: string): Promise<ServiceStatus[]>;
  readLock(id: string): Promise<LockInfo | undefined>;
  /** The record of a deploy that started switching the member and is not verified: running now, or died. */
  pending?(id: string): Promise<PendingDeploy | undefined>;
  /** Frees the lock on a member whoever holds it (`pipeline lock release`). */
  breakLock(id: string): Promise<void>;
  urls(): ServiceUrl[];
  // Day-two operations; a target that has not got one yet leaves it out, and the command that needs it says so.
  /** The member a release command of `service` runs on (a fleet: the first host of the service's first role). */
  releaseMember?(service: string): TargetMember | undefined;
  /** A service's container log on a member (with `follow`, line by line as it comes); a member where it has no container throws. */
  logs?(id: string, request: LogsRequest, onLine: (line: LogLine) => void): Promise<void>;
  /** Runs a command in a service on a member; resolves with its exit code. A service not running there throws. */
  exec?(id: string, request: ExecRequest): Promise<number>;
  /** Unlocks and disconnects; safe to call more than once. */
  close(): Promise<void>;
}
