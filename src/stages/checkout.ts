import type { ListrTask } from 'listr2';
import { type Commit, readCommit } from '../adapters/git.js';
import type { CiInfo } from '../core/ci.js';
import { branchTag } from '../core/tag.js';
import { ConfigError } from '../errors.js';
import type { Deps, RunContext, RunOptions } from '../runner/context.js';

/** Reads the commit to build: SHA, branch, and the tags at it. */
export function checkoutStage(_deps: Deps): ListrTask<RunContext> {
  return {
    title: 'checkout',
    task: async (ctx, task) => {
      const { options } = ctx;
      const commit = await readCommit(options.cwd, options.ref);
      Object.assign(ctx, { commit, ...describeRevision(commit, options, ctx.ci) });
      const tags = ctx.tags.length ? `, tags ${ctx.tags.join(', ')}` : '';
      task.title = `checkout: ${ctx.branch ?? '(no branch)'} at ${commit.sha.slice(0, 12)}${tags} → tag ${ctx.branchTag}`;
      if (commit.dirty && options.ref === undefined) task.output = 'uncommitted changes are not built: the image holds the committed HEAD';
    },
  };
}

/** The branch, tags and branch tag of a commit: --branch, else the CI's variables, else git. */
export function describeRevision(
  commit: Commit,
  options: Pick<RunOptions, 'branch' | 'ref'>,
  ci: CiInfo,
): { branch?: string; tags: string[]; branchTag: string } {
  // The CI's own variables describe HEAD only; with --ref the ref itself says which branch it is.
  const fromCi = options.ref === undefined;
  const branch = options.branch ?? (fromCi ? ci.branch : undefined) ?? commit.branch;
  const tags = [...new Set([...commit.tags, ...(fromCi && ci.tag ? [ci.tag] : [])])];
  const name = branch ?? (fromCi ? ci.tag : undefined) ?? commit.tags[0];
  if (name === undefined) throw new ConfigError(`commit ${commit.sha.slice(0, 12)} is on no branch (detached HEAD): pass --branch NAME`);
  return { branch, tags, branchTag: branchTag(name) };
}
