import { basename } from 'node:path';
import {
  commitAt,
  forcePushTag,
  hasUncommittedChanges,
  isValidTagName,
  localTagObject,
  moveAnnotatedTag,
  remoteTagCommit,
  restoreTag,
} from '../adapters/git.js';
import { ConfigError } from '../errors.js';

export interface PromoteArgs {
  /** The tag an environment deploys on (`uat`). */
  tag: string;
  ref: string;
  remote: string;
  force: boolean;
  cwd: string;
}

/**
 * `pipeline promote uat`: the documented "tag a branch as UAT" recipe, repeatable. `git tag -a uat` and
 * `git push --tags` fail once the tag exists, so the tag is moved and force-pushed instead.
 */
export async function promoteCommand(args: PromoteArgs): Promise<number> {
  const sha = await commitToPromote(args);
  const deploysTo = await environmentsOnTag(args.cwd, args.tag);
  const before = await remoteTagCommit(args.cwd, args.remote, args.tag);
  await moveAndPush(args, sha);
  process.stdout.write(`${describeMove(args.tag, before, sha, args.remote)}\n`);
  if (deploysTo?.environments.length) {
    process.stdout.write(`CI builds of tag ${args.tag} deploy to ${deploysTo.environments.join(', ')}\n`);
  } else if (deploysTo) {
    process.stderr.write(`pipeline: note: no environment in ${deploysTo.file} deploys on tag "${args.tag}" (environments.NAME.on.tags)\n`);
  }
  return 0;
}

/** The commit to promote, once the name, the ref and the working tree say it is the one meant. */
async function commitToPromote({ tag, ref, force, cwd }: PromoteArgs): Promise<string> {
  if (!(await isValidTagName(cwd, tag))) throw new ConfigError(`"${tag}" is not a valid git tag name`);
  const sha = await commitAt(cwd, ref);
  if (sha === undefined) throw new ConfigError(`unknown git ref "${ref}"`);
  // The tag names a commit: edits not yet committed would silently not be deployed.
  if (!force && (await hasUncommittedChanges(cwd))) {
    throw new ConfigError(`tracked files have uncommitted changes, which ${tag} would not include: commit or stash them, or pass --force`);
  }
  return sha;
}

/** Moves the local tag and force-pushes it; a failed push puts the local tag back, so a failed promotion changes nothing. */
async function moveAndPush({ tag, remote, cwd }: PromoteArgs, sha: string): Promise<void> {
  const previous = await localTagObject(cwd, tag);
  await moveAnnotatedTag(cwd, tag, sha, `promote ${tag} to ${sha}`);
  try {
    await forcePushTag(cwd, remote, tag);
  } catch (error) {
    await restoreTag(cwd, tag, previous);
    throw error;
  }
}

/**
 * The environments whose `on.tags` match the tag, to catch a mistyped name. Undefined without a loadable
 * configuration: promoting is a git operation and works without one.
 */
async function environmentsOnTag(cwd: string, tag: string): Promise<{ file: string; environments: string[] } | undefined> {
  const [{ loadConfig }, { resolveEnvironments }] = await Promise.all([import('../config/load.js'), import('../core/resolve.js')]);
  try {
    const { config, filepath } = await loadConfig({ cwd });
    return { file: basename(filepath), environments: resolveEnvironments(config, { tags: [tag] }) };
  } catch (error) {
    if (error instanceof ConfigError) return undefined;
    throw error;
  }
}

/** `uat: 1a2b3c4d5e6f → 9f8e7d6c5b4a, pushed to origin`: where the remote's tag was and where it is now. */
export function describeMove(tag: string, before: string | undefined, after: string, remote: string): string {
  const short = (sha: string) => sha.slice(0, 12);
  if (before === undefined) return `${tag}: new tag at ${short(after)}, pushed to ${remote}`;
  if (before === after) return `${tag}: already at ${short(after)}, pushed again to ${remote}`;
  return `${tag}: ${short(before)} → ${short(after)}, pushed to ${remote}`;
}
