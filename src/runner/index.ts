import { Listr, PRESET_TIMER, PRESET_TIMESTAMP, type ListrTask } from 'listr2';
import { buildStage } from '../stages/build.js';
import { checkoutStage } from '../stages/checkout.js';
import { deployStage } from '../stages/deploy.js';
import { pushStage } from '../stages/push.js';
import { resolveStage } from '../stages/resolve.js';
import { testStage } from '../stages/test.js';
import type { Deps, RunContext, StageName } from './context.js';
import type { RendererName } from './renderer.js';

const STAGE_FACTORIES: Record<StageName, (deps: Deps) => ListrTask<RunContext>> = {
  checkout: checkoutStage,
  build: buildStage,
  test: testStage,
  push: pushStage,
  resolve: resolveStage,
  deploy: deployStage,
};

const LINE_RENDERER_OPTIONS = { timer: PRESET_TIMER, timestamp: PRESET_TIMESTAMP };

/** Runs the given stages in order over one context; rejects with the first stage's error. */
export async function runStages(stages: readonly StageName[], ctx: RunContext, deps: Deps, renderer: RendererName): Promise<RunContext> {
  const list = new Listr<RunContext>(stages.map((stage) => STAGE_FACTORIES[stage](deps)), {
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
