import { posix, relative, resolve, sep } from 'node:path';
import type { ListrTask } from 'listr2';
import { cacheImages } from '../adapters/build-cache.js';
import { contextTar } from '../adapters/context.js';
import { buildImage, checkLocalEngine } from '../adapters/docker.js';
import { showFile } from '../adapters/git.js';
import { buildKitFeature, cacheCandidates } from '../core/build-cache.js';
import { StageError } from '../errors.js';
import { type Deps, type RunContext, stageEnabled } from '../runner/context.js';

/**
 * Builds the image from the committed context, tagged with the branch tag and the commit SHA, reusing the layers
 * of the branch's and the environments' images in the registry (pulled first when the engine lacks them).
 */
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
      const dockerfile = await showFile(commit!.repoRoot, commit!.sha, posix.join(folder || '.', config.build.dockerfile));
      const feature = dockerfile === undefined ? undefined : buildKitFeature(dockerfile);
      if (feature)
        throw new StageError(
          `${config.build.dockerfile} uses ${feature}, which needs BuildKit: this runner builds with the Engine API's classic builder`,
        );
      const say = (line: string) => {
        task.output = deps.show(line);
      };
      const cachefrom = await cacheImages(docker, cacheCandidates(config, ctx.branchTag!), deps.registry, say, deps.signal);
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
          cachefrom,
        },
        (lines) => {
          task.output = deps.show(lines);
        },
      );
      const cache = cachefrom.length > 0 ? `; cache from ${cachefrom.map((ref) => ref.slice(config.image.length + 1)).join(', ')}` : '';
      task.title = `build: ${tags[0]} (${ctx.imageId.replace('sha256:', '').slice(0, 12)}${cache}; ${excluded()} paths left out by .dockerignore)`;
    },
  };
}
