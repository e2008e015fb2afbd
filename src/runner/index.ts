import { Listr, ListrTaskEventType, ListrTaskState, PRESET_TIMER, PRESET_TIMESTAMP, type ListrTask } from 'listr2';
import { buildStage } from '../stages/build.js';
import { checkoutStage } from '../stages/checkout.js';
import { deployStage } from '../stages/deploy.js';
import { pushStage } from '../stages/push.js';
import { resolveStage } from '../stages/resolve.js';
import { testStage } from '../stages/test.js';
import type { Deps, RunContext, StageName, StageResult } from './context.js';
import type { RendererName } from './renderer.js';

const STAGE_FACTORIES: Record<StageName, (deps: Deps) => ListrTask<RunContext>> = {
  checkout: checkoutStage,
  build: buildStage,
  test: testStage,
  push: pushStage,
  resolve: resolveStage,
  deploy: deployStage,
};

/** Wraps a stage so that how it ended (and how long it took, subtasks included) lands in ctx.stages. */
function recorded(stage: StageName, task: ListrTask<RunContext>): ListrTask<RunContext> {
  const { skip } = task;
  return {
    ...task,
    skip: async (ctx) => {
      const reason = typeof skip === 'function' ? await skip(ctx) : skip;
      if (reason) ctx.stages.push({ stage, status: 'skipped', startedAt: new Date().toISOString(), durationMs: 0, message: typeof reason === 'string' ? reason : undefined });
      return reason ?? false;
    },
    task: (ctx, wrapper) => {
      const started = Date.now();
      const result: StageResult = { stage, status: 'success', startedAt: new Date(started).toISOString(), durationMs: 0 };
      ctx.stages.push(result);
      // A stage that returns subtasks ends when they do, after this function returned: its state says when.
      wrapper.task.on(ListrTaskEventType.STATE, (state) => {
        if (state !== ListrTaskState.COMPLETED && state !== ListrTaskState.FAILED) return;
        result.durationMs = Date.now() - started;
        if (state === ListrTaskState.FAILED) Object.assign(result, { status: 'failure', message: wrapper.task.message.error });
      });
      return task.task(ctx, wrapper);
    },
  };
}

const LINE_RENDERER_OPTIONS = { timer: PRESET_TIMER, timestamp: PRESET_TIMESTAMP };

/** Runs the given stages in order over one context; rejects with the first stage's error. */
export async function runStages(stages: readonly StageName[], ctx: RunContext, deps: Deps, renderer: RendererName): Promise<RunContext> {
  const list = new Listr<RunContext>(stages.map((stage) => recorded(stage, STAGE_FACTORIES[stage](deps))), {
    ctx,
    exitOnError: true,
    // Signals are handled by the CLI, which cleans up before exiting with 130/143.
    registerSignalListeners: false,
    renderer: renderer as 'default',
    rendererOptions: renderer === 'default'
      ? { timer: PRESET_TIMER, collapseSubtasks: false, collapseSkips: false, showSkipMessage: true }
      : LINE_RENDERER_OPTIONS as never,
    fallbackRenderer: 'simple',
    fallbackRendererOptions: LINE_RENDERER_OPTIONS,
  });
  try {
    return await list.run();
  } finally {
    for (const cleanup of [...deps.cleanups].reverse()) await cleanup().catch(() => undefined);
    deps.cleanups.clear();
  }
}
