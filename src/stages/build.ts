import { posix, relative, resolve, sep } from 'node:path';
import type { ListrTask } from 'listr2';
import { contextTar } from '../adapters/context.js';
import { buildImage, checkLocalEngine } from '../adapters/docker.js';
import { StageError } from '../errors.js';
import { type Deps, type RunContext, stageEnabled } from '../runner/context.js';

/** Builds the image from the committed context, tagged with the branch tag and the commit SHA. */
export function buildStage(deps: Deps): ListrTask<RunContext> {
  return {
    title: 'build',
    enabled: (ctx) => stageEnabled(ctx.options, 'build'),
    task: async (ctx, task) => {
      const { config, commit } = ctx;
      const docker = await deps.docker();
      await checkLocalEngine(docker);
      const folder = relative(commit!.repoRoot, resolve(ctx.configDir, config.build.context)).split(sep).join(posix.sep);
      if (folder.startsWith('..'))
        throw new StageError(`build.context ${config.build.context} is outside the git repository ${commit!.repoRoot}`);
      const { tar, excluded } = await contextTar({
        repoRoot: commit!.repoRoot,
        sha: commit!.sha,
        folder,
        dockerfile: config.build.dockerfile,
      });
      const tags = [`${config.image}:${ctx.branchTag}`, `${config.image}:${commit!.sha}`];
      ctx.imageId = await buildImage(
        docker,
        tar,
        {
          tags,
          dockerfile: config.build.dockerfile,
          buildargs: config.build.args,
          labels: { 'org.opencontainers.image.revision': commit!.sha, 'pipeline.commit': commit!.sha, 'pipeline.branch': ctx.branch ?? '' },
        },
        (lines) => {
          task.output = deps.show(lines);
        },
      );
      task.title = `build: ${tags[0]} (${ctx.imageId.replace('sha256:', '').slice(0, 12)}; ${excluded()} paths left out by .dockerignore)`;
    },
  };
}
