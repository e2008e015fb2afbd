import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { localDocker } from '../adapters/docker.js';
import { readCommit } from '../adapters/git.js';
import { localConnection } from '../adapters/local.js';
import type { HostConnection } from '../adapters/ports.js';
import { type LoadedConfig, loadConfig } from '../config/load.js';
import type { PipelineConfig } from '../config/schema.js';
import { detectCi } from '../core/ci.js';
import type { HostAddress } from '../core/hosts.js';
import { parseLockWait } from '../core/lease.js';
import { createMasker, MASK } from '../core/mask.js';
import { allSecretVariables, secretVariables } from '../core/plan.js';
import { registryAccess } from '../core/registry.js';
import { findEnvironment, resolveEnvironments } from '../core/resolve.js';
import { createTarget, TargetPool } from '../deploy/targets.js';
import { ConfigError, exitCodeFor, StageError, signalExitCode } from '../errors.js';
import { junitReport, testResultSuites } from '../report/junit.js';
import {
  checkStageSelection,
  createRunContext,
  type Deps,
  type RunContext,
  STAGES,
  type StageName,
  stageEnabled,
} from '../runner/context.js';
import { runStages } from '../runner/index.js';
import { writeResult } from '../runner/json.js';
import { chooseRenderer, type RendererName } from '../runner/renderer.js';
import { type RunOutcome, resultEvent } from '../runner/result.js';
import { summaryTable } from '../runner/summary.js';
import { describeRevision } from '../stages/checkout.js';
import { resolveTargets } from '../stages/resolve.js';
import { currentMasker, setMasker } from './output.js';
import type { SshConnect } from './ssh.js';

export interface CommonArgs {
  config?: string;
  cwd: string;
  renderer?: RendererName;
}
export interface RevisionArgs extends CommonArgs {
  branch?: string;
  ref?: string;
  env?: string;
  dockerTag?: string;
}
export interface LockArgs {
  lockWait?: string;
}
interface RunArgs extends RevisionArgs, OutputArgs, LockArgs {
  only?: StageName[];
  skip?: StageName[];
  skipRelease?: boolean;
}
interface DeployArgs extends CommonArgs, OutputArgs, LockArgs {
  environment: string;
  dockerTag?: string;
  skipRelease?: boolean;
}

/** `pipeline run`: every stage, or those --only/--skip select. */
export async function runCommand(args: RunArgs): Promise<number> {
  const loaded = await load(args);
  const options = {
    cwd: args.cwd,
    only: args.only ?? [],
    skip: args.skip ?? [],
    branch: args.branch,
    ref: args.ref,
    env: args.env,
    dockerTag: args.dockerTag,
    lockWait: lockWaitArg(args),
    skipRelease: args.skipRelease,
  };
  checkStageSelection(options);
  if (options.env !== undefined) findEnvironment(loaded.config, options.env);
  const ctx = createRunContext(loaded, options, detectCi(process.env));
  if (stageEnabled(options, 'deploy')) checkSecrets(loaded.config, await environmentsOfRun(ctx));
  return runWithSignals(STAGES, ctx, loaded, args.renderer, args);
}

/**
 * The environments a run will deploy to, known before it starts (--env, else the commit's branch and tags), so that
 * a missing secret stops it before anything runs. Git is read only when some environment needs a secret.
 */
async function environmentsOfRun(ctx: RunContext): Promise<string[]> {
  const { config, options } = ctx;
  if (allSecretVariables(config).length === 0) return [];
  if (options.env !== undefined) return [findEnvironment(config, options.env)];
  return resolveEnvironments(config, describeRevision(await readCommit(options.cwd, options.ref), options, ctx.ci));
}

/** `pipeline deploy ENV [--docker-tag TAG]`: the documented `fab ENV deploy docker_tag=...`. */
export async function deployCommand(args: DeployArgs): Promise<number> {
  const loaded = await load(args);
  const environment = findEnvironment(loaded.config, args.environment);
  const ctx = createRunContext(
    loaded,
    {
      cwd: args.cwd,
      only: [],
      skip: [],
      env: environment,
      dockerTag: args.dockerTag,
      lockWait: lockWaitArg(args),
      skipRelease: args.skipRelease,
    },
    detectCi(process.env),
  );
  // The release is made here, once: a missing defaultTag is a usage error before anything starts.
  Object.assign(ctx, resolveTargets(ctx));
  checkSecrets(loaded.config, ctx.environments);
  return runWithSignals(['resolve', 'deploy'], ctx, loaded, args.renderer, args);
}

/**
 * `pipeline config`: the configuration as the pipeline sees it, secrets redacted, as
 * JSON on stdout; the file it came from goes to stderr for people, unless --json.
 */
export async function configCommand(args: CommonArgs & { json?: boolean }): Promise<number> {
  const { config, filepath } = await load(args);
  const redacted = {
    ...config,
    registry: config.registry && { ...config.registry, password: config.registry.password && MASK },
    ssh: { ...config.ssh, passphrase: config.ssh.passphrase && MASK },
  };
  if (!args.json) process.stderr.write(`# ${filepath}\n`);
  process.stdout.write(`${JSON.stringify(redacted, null, 2)}\n`);
  return 0;
}

/** `--lock-wait` in milliseconds; undefined when not given (the deploy stage then decides from the CI). */
export function lockWaitArg(args: LockArgs): number | undefined {
  if (args.lockWait === undefined) return undefined;
  const ms = parseLockWait(args.lockWait);
  if (ms === undefined)
    throw new ConfigError(`--lock-wait ${args.lockWait}: must be a duration such as "90s" or "10m", or 0 to fail at once`);
  return ms;
}

export async function load(args: CommonArgs): Promise<LoadedConfig> {
  const loaded = await loadConfig({ cwd: args.cwd, file: args.config });
  setMasker(createMasker(secretValues(loaded.config)));
  return loaded;
}

/** Every value that must never be printed: passwords, passphrases and the values of every secret variable of the config. */
function secretValues(config: PipelineConfig): (string | undefined)[] {
  return [config.registry?.password, config.ssh.passphrase, ...allSecretVariables(config).map((name) => process.env[name])];
}

/** Secrets are read from the runner's environment: one missing for an environment this run deploys stops it before anything starts. */
function checkSecrets(config: PipelineConfig, environments: readonly string[]): void {
  const missing = secretVariables(config, environments).filter((name) => !process.env[name]);
  if (missing.length > 0) throw new ConfigError(`secret${missing.length > 1 ? 's' : ''} not set in the environment: ${missing.join(', ')}`);
}

/** How a run reports beyond its renderer: JSON events on stdout (--json) and a JUnit file (--report). */
export interface OutputArgs {
  json?: boolean;
  report?: string;
}

/** Runs stages, turning SIGINT/SIGTERM into a clean stop: stages see the abort, clean up, and the exit code says which signal. */
export async function runWithSignals(
  stages: readonly StageName[],
  ctx: RunContext,
  loaded: LoadedConfig,
  requested?: RendererName,
  output: OutputArgs = {},
): Promise<number> {
  const controller = new AbortController();
  let signal: NodeJS.Signals | undefined;
  const onSignal = (received: NodeJS.Signals) => {
    if (signal !== undefined) return;
    signal = received;
    process.stderr.write(`\npipeline: ${received} received, stopping and cleaning up\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const renderer = chooseRenderer({ requested, json: output.json, isTTY: Boolean(process.stdout.isTTY), ci: Boolean(ctx.ci.provider) });
  let outcome: RunOutcome = { exitCode: 0 };
  try {
    await runStages(stages, ctx, createDeps(loaded, controller.signal), renderer);
  } catch (error) {
    outcome = { exitCode: exitCodeFor(error), error };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (signal !== undefined) outcome = { exitCode: signalExitCode(signal), signal };
  outcome = await finishRun(ctx, outcome, output);
  // Errors go on to the CLI, which prints them; a signal's stop was announced already.
  if (outcome.error !== undefined) throw outcome.error;
  return outcome.exitCode;
}

export function createDeps(loaded: LoadedConfig, signal: AbortSignal): Deps {
  let docker: ReturnType<typeof localDocker> | undefined;
  const { config } = loaded;
  const mask = currentMasker();
  const registry = registryAccess(config.registry);
  let ssh: Promise<SshConnect> | undefined;
  const connect = async (address: HostAddress, environment: string): Promise<HostConnection> => {
    docker ??= localDocker();
    if (address.kind === 'local') return localConnection(await docker);
    ssh ??= import('./ssh.js').then(({ sshConnector }) => sshConnector(loaded));
    return (await ssh)(address, environment);
  };
  return {
    env: process.env,
    signal,
    cleanups: new Set(),
    mask,
    show: mask,
    docker: () => (docker ??= localDocker()),
    registry,
    targets: new TargetPool((environment) => createTarget(config, environment, { registry, connect })),
  };
}

/**
 * What every run ends with, also a failed or stopped one: the summary table
 * (on stderr with --json, whose stdout is events only), the --report file,
 * then the result event. A report that cannot be written fails a run that
 * otherwise succeeded.
 */
async function finishRun(ctx: RunContext, outcome: RunOutcome, output: OutputArgs): Promise<RunOutcome> {
  (output.json ? process.stderr : process.stdout).write(summaryTable(ctx));
  let ending = outcome;
  if (output.report) {
    await writeReport(ctx, resolve(ctx.options.cwd, output.report)).catch((error: Error) => {
      if (outcome.exitCode === 0) ending = { exitCode: exitCodeFor(error), error };
      else process.stderr.write(`pipeline: ${error.message}\n`);
    });
  }
  if (output.json) writeResult(resultEvent(ctx, ending));
  return ending;
}

/** The JUnit report of the stages, with the test command's own results when it wrote them; masked like all output. */
async function writeReport(ctx: RunContext, file: string): Promise<void> {
  const testSuites = ctx.testResults === undefined ? [] : testResultSuites(ctx.testResults, `${ctx.config.project} tests`);
  if (testSuites === undefined)
    process.stderr.write(
      `pipeline: the file at test.reports (${ctx.config.test?.reports}) is not JUnit XML; the report has the stages only\n`,
    );
  const xml = junitReport({ suite: `pipeline ${ctx.config.project}`, stages: ctx.stages, testSuites });
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, currentMasker()(xml));
  } catch (error) {
    throw new StageError(`cannot write the report to ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
