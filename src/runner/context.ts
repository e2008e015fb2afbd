import type Docker from 'dockerode';
import type { Commit } from '../adapters/git.js';
import type { LoadedConfig } from '../config/load.js';
import type { PipelineConfig } from '../config/schema.js';
import type { ServiceResult } from '../core/changes.js';
import type { CiInfo } from '../core/ci.js';
import type { Masker } from '../core/mask.js';
import type { RegistryAccess } from '../core/registry.js';
import type { Release } from '../core/release.js';
import type { TargetPool } from '../deploy/targets.js';
import { ConfigError } from '../errors.js';
import type { EarlyRelease } from '../stages/early.js';

export const STAGES = ['checkout', 'build', 'test', 'push', 'resolve', 'deploy'] as const;
export type StageName = (typeof STAGES)[number];
/** Stages that only read and compute: they run whatever --only/--skip say, because the others need what they find. */
export const ALWAYS_RUN: readonly StageName[] = ['checkout', 'resolve'];

export interface RunOptions {
  cwd: string;
  only: StageName[];
  skip: StageName[];
  branch?: string;
  ref?: string;
  env?: string;
  dockerTag?: string;
  /** `--lock-wait`: how long to queue behind a deploy that holds the lock (ms); undefined: 10 minutes in CI, else 0. */
  lockWait?: number;
  /** `--skip-release`: the deploy does not run the config's release command. */
  skipRelease?: boolean;
  /** `pipeline rollback`: the deploy stage restores kept releases instead of deploying a tag. */
  rollback?: { to?: string };
}

/** How a stage ended, for summaries and reports. */
export interface StageResult {
  stage: StageName;
  status: 'success' | 'failure' | 'skipped';
  startedAt: string;
  durationMs: number;
  message?: string;
}

export interface HostDeployment {
  environment: string;
  host: string;
  services: ServiceResult[];
}

/** What the stages hand to each other. */
export interface RunContext {
  config: PipelineConfig;
  configDir: string;
  options: RunOptions;
  ci: CiInfo;
  commit?: Commit;
  /** The branch being built (from --branch, the CI, or git). */
  branch?: string;
  /** Tags at the commit. */
  tags: string[];
  /** The image tag for the branch, slashes removed. */
  branchTag?: string;
  imageId?: string;
  /** The tags this run pushed, with the digest the registry answered. */
  pushed: { tag: string; digest?: string }[];
  environments: string[];
  /** What the deploy puts on the environments' hosts; undefined for a rollback. */
  release?: Release;
  deployments: HostDeployment[];
  /** The JUnit XML the test command wrote to `test.reports`, copied out of the test container. */
  testResults?: string;
  /** Stages as they ended, in order. */
  stages: StageResult[];
  /** The host a failed deploy failed on, when one did. */
  failedHost?: string;
  /** Addresses of deployed services that publish a port, for people to open. */
  urls: { environment: string; host: string; service: string; url: string }[];
}

export function createRunContext(loaded: LoadedConfig, options: RunOptions, ci: CiInfo): RunContext {
  return {
    config: loaded.config,
    configDir: loaded.dir,
    options,
    ci,
    tags: [],
    pushed: [],
    environments: [],
    deployments: [],
    urls: [],
    stages: [],
  };
}

/** Whether a stage runs under --only/--skip. */
export function stageEnabled(options: Pick<RunOptions, 'only' | 'skip'>, stage: StageName): boolean {
  if (ALWAYS_RUN.includes(stage)) return true;
  if (options.only.length > 0 && !options.only.includes(stage)) return false;
  return !options.skip.includes(stage);
}

/** Rejects --skip of the stages every other stage depends on. */
export function checkStageSelection(options: Pick<RunOptions, 'only' | 'skip'>): void {
  const bad = options.skip.filter((stage) => ALWAYS_RUN.includes(stage));
  if (bad.length > 0)
    throw new ConfigError(`--skip ${bad[0]}: ${bad[0]} only reads and decides, and the other stages need it; it cannot be skipped`);
}

/**
 * What stages use to reach the outside world; tests and callers inject their own. Live things (engines,
 * connections, targets) live here, never in the context, which holds only data the JSON output could show.
 */
export interface Deps {
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  mask: Masker;
  /** What a task shows of lines of output: masked; the live list at a terminal shows only the last one. */
  show(lines: string): string;
  /** The runner's own Docker engine. */
  docker(): Promise<Docker>;
  /** The configured registry and its credentials, resolved once from the config. */
  registry: RegistryAccess | undefined;
  /** Where each environment's releases go, connected on first use and closed when the command ends. */
  targets: TargetPool;
  /** Undo and release steps the runner runs after the stages end, whether they succeeded, failed or were stopped. */
  cleanups: Set<() => Promise<void>>;
  /** The upload by digest and the hosts' pulls that run while the tests do, once the build has started them. */
  early?: EarlyRelease;
}
