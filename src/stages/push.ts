import type { ListrTask } from 'listr2';
import { authFor, checkLocalEngine, pushImage } from '../adapters/docker.js';
import { StageError } from '../errors.js';
import { stageEnabled, type Deps, type RunContext } from '../runner/context.js';

/** Pushes `<image>:<branch tag>` and the immutable `<image>:<commit sha>`. */
export function pushStage(deps: Deps): ListrTask<RunContext> {
  return {
    title: 'push',
    enabled: (ctx) => stageEnabled(ctx.options, 'push'),
    skip: (ctx) => (ctx.config.registry ? false : 'no registry configured'),
    task: async (ctx, task) => {
      const { config, commit } = ctx;
      const registry = config.registry!;
      if (!registry.password) throw new StageError(`registry.password is not set for ${registry.server}`);
      const docker = await deps.docker();
      await checkLocalEngine(docker);
      const auth = authFor(config.image, registry) ?? { username: registry.username, password: registry.password, serveraddress: registry.server };
      for (const tag of [ctx.branchTag!, commit!.sha]) {
        const digest = await pushImage(docker, config.image, tag, auth, (line) => { task.output = deps.mask(`${tag}: ${line}`); });
        ctx.pushed.push({ ref: `${config.image}:${tag}`, digest });
      }
      task.title = `push: ${config.image}:${ctx.branchTag} (${ctx.pushed[0]?.digest ?? 'digest unknown'})`;
    },
  };
}
