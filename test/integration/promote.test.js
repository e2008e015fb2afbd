// `pipeline promote uat` against a real bare origin: the documented UAT tagging recipe, repeatable. Needs only git.

import { execFile } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { makeRepo, pipeline } from '../helpers/world.js';

const run = promisify(execFile);
const env = { ...process.env, CI: '', CIRCLECI: '', CIRCLE_BRANCH: '', CIRCLE_TAG: '', GITHUB_ACTIONS: '', GITHUB_REF_NAME: '' };

async function repoFor(t) {
  const repo = await makeRepo();
  t.teardown(repo.cleanup);
  return repo;
}

const promote = (repo, ...args) => pipeline(['promote', 'uat', ...args], { cwd: repo.work, env });
const gitOut = async (cwd, ...args) => (await run('git', args, { cwd })).stdout.trim();
const short = (sha) => sha.slice(0, 12);

/** A new commit on the current branch of the clone. */
async function commit(repo, file, content) {
  await writeFile(join(repo.work, file), content);
  await repo.git('add', file);
  await repo.git('commit', '-qm', `change ${file}`);
  return gitOut(repo.work, 'rev-parse', 'HEAD');
}

/** The commit the origin's uat tag points at, checking it is an annotated tag. */
async function originUat(t, repo) {
  const listed = await gitOut(repo.work, 'ls-remote', 'origin', 'refs/tags/uat', 'refs/tags/uat^{}');
  const refs = Object.fromEntries(
    listed
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split('\t').reverse()),
  );
  t.truthy(refs['refs/tags/uat^{}'], 'the tag on origin is annotated (ls-remote lists the commit it peels to)');
  t.is(await gitOut(repo.origin, 'cat-file', '-t', 'refs/tags/uat'), 'tag');
  return refs['refs/tags/uat^{}'];
}

async function localUat(t, repo) {
  t.is(await gitOut(repo.work, 'cat-file', '-t', 'refs/tags/uat'), 'tag', 'the local tag is annotated');
  return gitOut(repo.work, 'rev-parse', 'uat^{commit}');
}

test('the first promotion creates the annotated tag locally and on origin', async (t) => {
  const repo = await repoFor(t);
  const head = await gitOut(repo.work, 'rev-parse', 'HEAD');

  const result = await promote(repo);
  t.is(result.code, 0, result.output);
  t.is(result.stdout.split('\n')[0], `uat: new tag at ${short(head)}, pushed to origin`);
  t.regex(result.stdout, /CI builds of tag uat deploy to uat/, 'the example config deploys uat on the uat tag');
  t.is(await localUat(t, repo), head);
  t.is(await originUat(t, repo), head);
  t.is(await gitOut(repo.work, 'tag', '-l', '--format=%(contents:subject)', 'uat'), `promote uat to ${head}`);
});

test('a second promotion moves the tag on both sides, where the documented recipe fails', async (t) => {
  const repo = await repoFor(t);
  const first = await gitOut(repo.work, 'rev-parse', 'HEAD');
  t.is((await promote(repo)).code, 0);
  const teammate = join(repo.dir, 'teammate');
  await run('git', ['clone', '-q', repo.origin, teammate]);
  const second = await commit(repo, 'CHANGELOG.md', 'uat round two\n');

  // The documented recipe: `git tag -a "uat" -m "uat"` then `git push --tags`.
  const recipe = await repo.git('tag', '-a', 'uat', '-m', 'uat').catch((error) => error);
  t.true(recipe instanceof Error, 'git tag -a uat fails once the tag exists');
  t.regex(recipe.stderr, /already exists/);

  const result = await promote(repo);
  t.is(result.code, 0, result.output);
  t.is(result.stdout.split('\n')[0], `uat: ${short(first)} → ${short(second)}, pushed to origin`);
  t.is(await localUat(t, repo), second);
  t.is(await originUat(t, repo), second);

  // A clone made afterwards sees the new commit; an older clone must force its tags to follow a moved tag.
  const fresh = join(repo.dir, 'fresh');
  await run('git', ['clone', '-q', repo.origin, fresh]);
  t.is(await gitOut(fresh, 'rev-parse', 'uat^{commit}'), second);
  t.is(await gitOut(teammate, 'rev-parse', 'uat^{commit}'), first);
  const plainFetch = await run('git', ['fetch', '--tags'], { cwd: teammate }).catch((error) => error);
  t.regex(plainFetch.stderr, /would clobber existing tag/);
  await run('git', ['fetch', '--tags', '--force'], { cwd: teammate });
  t.is(await gitOut(teammate, 'rev-parse', 'uat^{commit}'), second);
});

test('any tag name can be promoted: a note says when no environment deploys on it, and no configuration is needed', async (t) => {
  const repo = await repoFor(t);
  const head = await gitOut(repo.work, 'rev-parse', 'HEAD');
  const unknown = await pipeline(['promote', 'uat-2'], { cwd: repo.work, env });
  t.is(unknown.code, 0, unknown.output);
  t.is(unknown.stdout, `uat-2: new tag at ${short(head)}, pushed to origin\n`);
  t.is(unknown.stderr, 'pipeline: note: no environment in pipeline.config.ts deploys on tag "uat-2" (environments.NAME.on.tags)\n');

  await repo.git('rm', '-q', 'pipeline.config.ts');
  await repo.git('commit', '-qm', 'no pipeline configuration');
  const bare = await promote(repo);
  t.is(bare.code, 0, bare.output);
  t.is(bare.stdout, `uat: new tag at ${short(await gitOut(repo.work, 'rev-parse', 'HEAD'))}, pushed to origin\n`);
  t.is(bare.stderr, '');
});

test('--ref promotes another branch', async (t) => {
  const repo = await repoFor(t);
  await commit(repo, 'CHANGELOG.md', 'on master only\n');
  const develop = await gitOut(repo.work, 'rev-parse', 'develop');

  const result = await promote(repo, '--ref', 'develop');
  t.is(result.code, 0, result.output);
  t.is(await localUat(t, repo), develop);
  t.is(await originUat(t, repo), develop);
});

test('uncommitted changes to tracked files refuse (exit 2) unless --force; untracked files do not count', async (t) => {
  const repo = await repoFor(t);
  await writeFile(join(repo.work, 'notes.txt'), 'untracked\n');
  const untracked = await promote(repo);
  t.is(untracked.code, 0, untracked.output);
  const promoted = await originUat(t, repo);

  const moved = await commit(repo, 'CHANGELOG.md', 'next\n');
  await writeFile(join(repo.work, 'app.js'), '// edited, not committed\n');
  const dirty = await promote(repo);
  t.is(dirty.code, 2, dirty.output);
  t.is(
    dirty.stderr,
    'pipeline: tracked files have uncommitted changes, which uat would not include: commit or stash them, or pass --force\n',
  );
  t.is(await originUat(t, repo), promoted, 'nothing was pushed');
  t.is(await localUat(t, repo), promoted, 'nothing was tagged');

  const forced = await promote(repo, '--force');
  t.is(forced.code, 0, forced.output);
  t.is(await originUat(t, repo), moved);
});

test('an unknown ref or tag name is bad usage (exit 2) and names it', async (t) => {
  const repo = await repoFor(t);
  const ref = await promote(repo, '--ref', 'no-such-branch');
  t.is(ref.code, 2, ref.output);
  t.is(ref.stderr, 'pipeline: unknown git ref "no-such-branch"\n');

  const name = await pipeline(['promote', 'u..at'], { cwd: repo.work, env });
  t.is(name.code, 2, name.output);
  t.is(name.stderr, 'pipeline: "u..at" is not a valid git tag name\n');
  t.is(await gitOut(repo.work, 'tag', '-l'), '', 'no tag was made');
});

test('an unreachable remote fails (exit 1) in one line, leaving the local tag alone', async (t) => {
  const repo = await repoFor(t);
  await repo.git('remote', 'add', 'gone', join(repo.dir, 'missing.git'));
  const result = await promote(repo, '--remote', 'gone');
  t.is(result.code, 1, result.output);
  t.regex(result.stderr, /^pipeline: cannot read tag uat from gone: .*missing\.git.* does not appear to be a git repository\n$/);
  t.is(await gitOut(repo.work, 'tag', '-l'), '');
});

test("a rejected push fails (exit 1) with git's reason and puts the local tag back", async (t) => {
  const repo = await repoFor(t);
  t.is((await promote(repo)).code, 0);
  const before = await gitOut(repo.work, 'rev-parse', 'refs/tags/uat');
  const hook = join(repo.origin, 'hooks', 'pre-receive');
  await writeFile(hook, '#!/bin/sh\necho "uat is frozen for the release" >&2\nexit 1\n');
  await chmod(hook, 0o755);
  await commit(repo, 'CHANGELOG.md', 'next\n');

  const result = await promote(repo);
  t.is(result.code, 1, result.output);
  t.is(result.stderr, 'pipeline: cannot push tag uat to origin: [remote rejected] uat -> uat (pre-receive hook declined)\n');
  t.is(await gitOut(repo.work, 'rev-parse', 'refs/tags/uat'), before, 'the local tag is where it was');
});
