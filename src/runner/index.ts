import {
  LISTR_LOGGER_STDERR_LEVELS,
  Listr,
  ListrLogLevels,
  type ListrTask,
  ListrTaskEventType,
  ListrTaskState,
  PRESET_TIMER,
  PRESET_TIMESTAMP,
} from 'listr2';
import { localEngineAddress } from '../adapters/docker.js';
import { lastLine } from '../core/lines.js';
import { StageError } from '../errors.js';
import { buildStage } from '../stages/build.js';
import { checkoutStage } from '../stages/checkout.js';
import { deployStage } from '../stages/deploy.js';
import { EarlyRelease } from '../stages/early.js';
import { pushStage } from '../stages/push.js';
import { resolveStage, resolveTargets } from '../stages/resolve.js';
import { testStage } from '../stages/test.js';
import { type Deps, type RunContext, type StageName, type StageResult, stageEnabled } from './context.js';
import { JsonRenderer } from './json.js';
import { LineLogger } from './line-logger.js';
import type { RunRenderer } from './renderer.js';

const STAGE_FACTORIES: Record<StageName, (deps: Deps) => ListrTask<RunContext>> = {
  checkout: checkoutStage,
  build: buildStage,
  test: testStage,
  push: pushStage,
  resolve: resolveStage,
  deploy: deployStage,
};

/** Wraps a stage so that how it ended (and how long it took, subtasks included) lands in ctx.stages. */
function recorded(stage: StageName, task: ListrTask<RunContext>, signal: AbortSignal): ListrTask<RunContext> {
  const { skip } = task;
  return {
    ...task,
    skip: async (ctx) => {
      const reason = typeof skip === 'function' ? await skip(ctx) : skip;
      if (reason)
        ctx.stages.push({
          stage,
          status: 'skipped',
          startedAt: new Date().toISOString(),
          durationMs: 0,
          message: typeof reason === 'string' ? reason : undefined,
        });
      return reason ?? false;
    },
    task: (ctx, wrapper) => {
      const started = Date.now();
      const result: StageResult = { stage, status: 'success', startedAt: new Date(started).toISOString(), durationMs: 0 };
      ctx.stages.push(result);
      // After SIGINT/SIGTERM no further stage starts.
      if (signal.aborted) throw new StageError('stopped by a signal');
      // A stage that returns subtasks ends when they do, after this function returned: its state says when.
      wrapper.task.on(ListrTaskEventType.STATE, (state) => {
        if (state !== ListrTaskState.COMPLETED && state !== ListrTaskState.FAILED) return;
        result.durationMs = Date.now() - started;
        if (state === ListrTaskState.FAILED) result.status = 'failure';
      });
      // listr2 sets why a task failed only after its FAILED state.
      wrapper.task.on(ListrTaskEventType.MESSAGE, (message) => {
        if (message.error) result.message = message.error;
      });
      return task.task(ctx, wrapper);
    },
  };
}

/** Checkout, after which the deploy starts connecting to its hosts while the stages before it run. */
function thenPrepareDeploy(checkout: ListrTask<RunContext>, deps: Deps): ListrTask<RunContext> {
  return {
    ...checkout,
    task: async (ctx, task) => {
      await checkout.task(ctx, task);
      prepareDeploy(ctx, deps);
    },
  };
}

/**
 * Starts connecting to the hosts a run will deploy to, and checking their engines, as soon as checkout has said
 * where it deploys: the connections are ready when build, test and push are done. Nothing on the hosts is changed
 * or locked until the deploy stage starts.
 */
function prepareDeploy(ctx: RunContext, deps: Deps): void {
  let environments: string[];
  try {
    ({ environments } = resolveTargets(ctx));
  } catch {
    return; // the resolve stage reports it
  }
  for (const environment of environments) deps.targets.get(environment).prepare();
}

/** Build, after which the image goes to the registry by digest, and the deploy's hosts pull it, while the tests run. */
function thenUploadEarly(build: ListrTask<RunContext>, deps: Deps, deploys: boolean): ListrTask<RunContext> {
  return {
    ...build,
    task: async (ctx, task) => {
      await build.task(ctx, task);
      await startEarlyRelease(ctx, deps, deploys);
    },
  };
}

/**
 * Starts the work that does not wait for the test result, when there is a test to wait for, a registry to push to,
 * and the runner's engine on this machine (it pushes to a proxy on the runner's loopback: adapters/upload.ts).
 * The hosts pull only a release this build makes.
 */
async function startEarlyRelease(ctx: RunContext, deps: Deps, deploys: boolean): Promise<void> {
  const { config } = ctx;
  const local = /^unix:\/\//.test(localEngineAddress(deps.env));
  if (!config.test || !deps.registry?.auth || !ctx.imageId || !local) return;
  let targets: string[] = [];
  try {
    const { environments, release } = resolveTargets(ctx);
    if (deploys && release?.tag === ctx.branchTag) targets = environments;
  } catch {
    // the resolve stage reports it
  }
  const docker = await deps.docker();
  deps.early = new EarlyRelease({
    docker,
    imageId: ctx.imageId,
    image: config.image,
    registry: deps.registry,
    targets: targets.map((env) => deps.targets.get(env)),
    mask: deps.mask,
    signal: deps.signal,
  });
}

const LINE_RENDERER_OPTIONS = { timer: PRESET_TIMER, timestamp: PRESET_TIMESTAMP };

/** The line renderers' options, each with its own logger (stderr for the levels listr2 sends there, or for all of them). */
function lineRendererOptions(toStderr: readonly ListrLogLevels[] = LISTR_LOGGER_STDERR_LEVELS) {
  return { ...LINE_RENDERER_OPTIONS, logger: new LineLogger({ useIcons: true, toStderr: [...toStderr] }) };
}

/** The listr2 renderer and its options for the chosen output. */
function listrRenderer(renderer: RunRenderer) {
  if (renderer === 'json')
    return { renderer: JsonRenderer, rendererOptions: { human: lineRendererOptions(Object.values(ListrLogLevels)) } };
  if (renderer === 'default')
    return { renderer, rendererOptions: { timer: PRESET_TIMER, collapseSubtasks: false, collapseSkips: false, showSkipMessage: true } };
  return { renderer, rendererOptions: lineRendererOptions() };
}

/** Runs the given stages in order over one context; rejects with the first stage's error. */
export async function runStages(stages: readonly StageName[], ctx: RunContext, deps: Deps, renderer: RunRenderer): Promise<RunContext> {
  // The live list has room for one line of a task's output: it gets the last of each batch.
  const stageDeps: Deps = { ...deps, ...(renderer === 'default' ? { show: (lines: string) => lastLine(deps.show(lines)) } : {}) };
  const prepare = stages.includes('deploy') && stageEnabled(ctx.options, 'deploy') && !ctx.options.rollback;
  const early = (['test', 'push'] as const).every((stage) => stages.includes(stage) && stageEnabled(ctx.options, stage));
  // Without a checkout to wait for (`pipeline deploy`, `run --only deploy`), the hosts are known now: connect at once.
  const checkout = stages.includes('checkout') && stageEnabled(ctx.options, 'checkout');
  if (prepare && !checkout) prepareDeploy(ctx, stageDeps);
  const list = new Listr<RunContext>(
    stages.map((stage) => {
      const task = STAGE_FACTORIES[stage](stageDeps);
      if (stage === 'checkout' && prepare && checkout) return recorded(stage, thenPrepareDeploy(task, stageDeps), deps.signal);
      if (stage === 'build' && early) return recorded(stage, thenUploadEarly(task, stageDeps, prepare), deps.signal);
      return recorded(stage, task, deps.signal);
    }),
    {
      ctx,
      exitOnError: true,
      // Signals are handled by the CLI, which cleans up before exiting with 130/143.
      registerSignalListeners: false,
      ...(listrRenderer(renderer) as { renderer: 'default' }),
      fallbackRenderer: 'simple',
      fallbackRendererOptions: lineRendererOptions(),
    },
  );
  try {
    return await list.run();
  } finally {
    stageDeps.early?.abort();
    for (const cleanup of [...deps.cleanups].reverse()) await cleanup().catch(() => undefined);
    deps.cleanups.clear();
    await deps.targets.close();
  }
}
