import type { ListrTask } from 'listr2';
import { newRelease } from '../core/release.js';
import { deployTagFor, findEnvironment, resolveEnvironments } from '../core/resolve.js';
import type { Deps, RunContext } from '../runner/context.js';

/** Chooses the environments to deploy (by branch and tags, or --env) and the release to deploy to them. */
export function resolveStage(_deps: Deps): ListrTask<RunContext> {
  return {
    title: 'resolve',
    task: (ctx, task) => {
      // `pipeline deploy` made them already, before anything started.
      if (ctx.environments.length === 0) Object.assign(ctx, resolveTargets(ctx));
      task.title =
        ctx.environments.length === 0
          ? `resolve: nothing is deployed for branch ${ctx.branch ?? ctx.branchTag}`
          : `resolve: ${ctx.release?.tag ?? 'previous release'} → ${ctx.environments.join(', ')}`;
    },
  };
}

/**
 * The environments a run deploys to and the release it deploys: decided by the options, the branch and the tags
 * alone. The release carries the digest this run pushed for its tag, when it did.
 */
export function resolveTargets(
  ctx: Pick<RunContext, 'config' | 'options' | 'branch' | 'tags' | 'branchTag' | 'pushed' | 'commit'>,
): Pick<RunContext, 'environments' | 'release'> {
  const { config, options } = ctx;
  const environments =
    options.env !== undefined
      ? [findEnvironment(config, options.env)]
      : resolveEnvironments(config, { branch: ctx.branch, tags: ctx.tags });
  const [first] = environments;
  if (first === undefined || options.rollback) return { environments, release: undefined };
  const tag = deployTagFor(config, first, options.dockerTag, ctx.branchTag);
  const built = tag === ctx.branchTag ? ctx.commit?.sha : undefined;
  return {
    environments,
    release: newRelease(config.image, tag, { digest: ctx.pushed.find((pushed) => pushed.tag === tag)?.digest, commit: built }),
  };
}
