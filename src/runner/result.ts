import type { CiInfo } from '../core/ci.js';
import type { RunContext, StageName, StageResult } from './context.js';
import { type DeploymentRow, deploymentRows } from './summary.js';

/** The last JSON event of a run: how it ended, what failed where, and what was deployed. */
export interface ResultEvent {
  type: 'result';
  status: 'success' | 'failure';
  exitCode: number;
  failedStage?: StageName;
  failedHost?: string;
  message?: string;
  branch?: string;
  commit?: string;
  deployTag?: string;
  environments: string[];
  stages: StageResult[];
  deployments: DeploymentRow[];
  urls: RunContext['urls'];
  ci: CiInfo;
}

/** How a run (or the attempt to start one) ended. */
export interface RunOutcome {
  exitCode: number;
  /** What stopped it, when something did. */
  error?: unknown;
  /** The signal that stopped it, when one did. */
  signal?: NodeJS.Signals;
}

function outcomeMessage(outcome: RunOutcome): string | undefined {
  if (outcome.signal) return `stopped by ${outcome.signal}`;
  if (outcome.error === undefined) return undefined;
  return outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
}

/**
 * The result event for a run's context and outcome. Without a context (the
 * run never started: bad usage, invalid configuration) only the outcome and
 * the CI are described.
 */
export function resultEvent(ctx: RunContext | undefined, outcome: RunOutcome, ci: CiInfo = ctx?.ci ?? {}): ResultEvent {
  const failed = outcome.exitCode !== 0;
  const message = outcomeMessage(outcome);
  const failedStage = failed ? ctx?.stages.find((stage) => stage.status === 'failure')?.stage : undefined;
  const failedHost = failed ? ctx?.failedHost : undefined;
  return {
    type: 'result',
    status: failed ? 'failure' : 'success',
    exitCode: outcome.exitCode,
    ...(failedStage ? { failedStage } : {}),
    ...(failedHost ? { failedHost } : {}),
    ...(message !== undefined ? { message } : {}),
    ...(ctx?.branch ? { branch: ctx.branch } : {}),
    ...(ctx?.commit ? { commit: ctx.commit.sha } : {}),
    ...(ctx?.release ? { deployTag: ctx.release.tag } : {}),
    environments: ctx?.environments ?? [],
    stages: ctx?.stages ?? [],
    deployments: ctx ? deploymentRows(ctx) : [],
    urls: ctx?.urls ?? [],
    ci,
  };
}
