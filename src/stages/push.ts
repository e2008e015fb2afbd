import type { ListrTask } from 'listr2';
import { checkLocalEngine, pushImage } from '../adapters/docker.js';
import { StageError } from '../errors.js';
import { type Deps, type RunContext, stageEnabled } from '../runner/context.js';

/**
 * Pushes `<image>:<branch tag>` and the immutable `<image>:<commit sha>`. When the image went to the registry by
 * digest while the tests ran, the push only puts its manifest under the two tags.
 */
export function pushStage(deps: Deps): ListrTask<RunContext> {
  return {
    title: 'push',
    enabled: (ctx) => stageEnabled(ctx.options, 'push'),
    skip: (ctx) => (ctx.config.registry ? false : 'no registry configured'),
    task: async (ctx, task) => {
      const { config, commit } = ctx;
      const { auth, server } = deps.registry!;
      if (!auth) throw new StageError(`registry.password is not set for ${server}`);
      const tags = [ctx.branchTag!, commit!.sha];
      const say = (line: string) => {
        task.output = deps.mask(line);
      };
      const uploaded = await deps.early?.uploaded(say);
      if (uploaded) {
        const client = await deps.early!.client;
        const digests = await Promise.all(tags.map((tag) => client.putManifest(tag, uploaded.manifest)));
        ctx.pushed.push(...tags.map((tag, i) => ({ tag, digest: digests[i] || uploaded.digest })));
        task.title = `push: ${config.image}:${ctx.branchTag} (${uploaded.digest}; uploaded while the tests ran)`;
        return;
      }
      const docker = await deps.docker();
      await checkLocalEngine(docker);
      for (const tag of tags) {
        const digest = await pushImage(docker, config.image, tag, auth, (line) => say(`${tag}: ${line}`), deps.signal);
        ctx.pushed.push({ tag, digest });
      }
      task.title = `push: ${config.image}:${ctx.branchTag} (${ctx.pushed[0]?.digest ?? 'digest unknown'})`;
    },
  };
}
