import type { ListrTask } from 'listr2';
import { checkLocalEngine, pushImage } from '../adapters/docker.js';
import { StageError } from '../errors.js';
import { type Deps, type RunContext, stageEnabled } from '../runner/context.js';

/** Pushes `<image>:<branch tag>` and the immutable `<image>:<commit sha>`. */
export function pushStage(deps: Deps): ListrTask<RunContext> {
  return {
    title: 'push',
    enabled: (ctx) => stageEnabled(ctx.options, 'push'),
    skip: (ctx) => (ctx.config.registry ? false : 'no registry configured'),
    task: async (ctx, task) => {
      const { config, commit } = ctx;
      const { auth, server } = deps.registry!;
      if (!auth) throw new StageError(`registry.password is not set for ${server}`);
      const docker = await deps.docker();
      await checkLocalEngine(docker);
      for (const tag of [ctx.branchTag!, commit!.sha]) {
        const digest = await pushImage(docker, config.image, tag, auth, (line) => {
          task.output = deps.mask(`${tag}: ${line}`);
        });
        ctx.pushed.push({ tag, digest });
      }
      task.title = `push: ${config.image}:${ctx.branchTag} (${ctx.pushed[0]?.digest ?? 'digest unknown'})`;
    },
  };
}
