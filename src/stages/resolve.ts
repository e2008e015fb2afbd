import type { ListrTask } from 'listr2';
import { deployTagFor, findEnvironment, resolveEnvironments } from '../core/resolve.js';
import type { Deps, RunContext } from '../runner/context.js';

/** Chooses the environments to deploy (by branch and tags, or --env) and the tag to deploy. */
export function resolveStage(_deps: Deps): ListrTask<RunContext> {
  return {
    title: 'resolve',
    task: (ctx, task) => {
      Object.assign(ctx, resolveTargets(ctx));
      task.title = ctx.environments.length === 0
        ? `resolve: nothing is deployed for branch ${ctx.branch ?? ctx.branchTag}`
        : `resolve: ${ctx.deployTag ?? 'previous release'} → ${ctx.environments.join(', ')}`;
    },
  };
}

/** The environments a run deploys to and the tag it deploys: decided by the options, the branch and the tags alone. */
export function resolveTargets(ctx: Pick<RunContext, 'config' | 'options' | 'branch' | 'tags' | 'branchTag'>): Pick<RunContext, 'environments' | 'deployTag'> {
  const { config, options } = ctx;
  const environments = options.env !== undefined
    ? [findEnvironment(config, options.env)]
    : resolveEnvironments(config, { branch: ctx.branch, tags: ctx.tags });
  const [first] = environments;
  return { environments, deployTag: first === undefined || options.rollback ? undefined : deployTagFor(config, first, options.dockerTag, ctx.branchTag) };
}
