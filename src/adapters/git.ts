import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { StageError } from '../errors.js';

export interface Commit {
  sha: string;
  /** Branch name from the ref, when the ref is a branch. */
  branch?: string;
  /** Tags pointing at the commit. */
  tags: string[];
  repoRoot: string;
  /** Whether tracked files have uncommitted changes (they are not built). */
  dirty: boolean;
}

async function git(cwd: string) {
  const { simpleGit } = await import('simple-git');
  return simpleGit({ baseDir: cwd });
}

/** The commit a ref points at, its branch and the tags on it. */
export async function readCommit(cwd: string, ref = 'HEAD'): Promise<Commit> {
  const repo = await git(cwd);
  let repoRoot: string;
  try {
    repoRoot = (await repo.revparse(['--show-toplevel'])).trim();
  } catch {
    throw new StageError(`${cwd} is not inside a git repository`);
  }
  let sha: string;
  try {
    sha = (await repo.revparse(['--verify', '--quiet', `${ref}^{commit}`])).trim();
  } catch {
    throw new StageError(`unknown git ref "${ref}"`);
  }
  const symbolic = (await repo.raw(['rev-parse', '--symbolic-full-name', ref]).catch(() => '')).trim();
  const branch = /^refs\/heads\/(.+)$/.exec(symbolic)?.[1] ?? /^refs\/remotes\/[^/]+\/(.+)$/.exec(symbolic)?.[1];
  const tags = (await repo.raw(['tag', '--points-at', sha])).split('\n').filter(Boolean);
  const dirty = (await repo.raw(['status', '--porcelain', '--untracked-files=no'])).trim() !== '';
  return { sha, branch, tags, repoRoot, dirty };
}

/** A file's content at a commit, or undefined when the commit does not have it. */
export async function showFile(repoRoot: string, sha: string, path: string): Promise<string | undefined> {
  const repo = await git(repoRoot);
  return repo.show([`${sha}:${path}`]).catch(() => undefined);
}

/** A tar stream of a folder of a commit, exactly as committed (`git archive`); it errors when git fails. */
export function archiveTree(repoRoot: string, sha: string, folder: string): Readable {
  const child = spawn('git', ['archive', '--format=tar', folder ? `${sha}:${folder}` : sha], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  // The stream ends only once git's exit code is known, so a failed archive is never taken for a short one.
  const out = new PassThrough();
  child.stdout.pipe(out, { end: false });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  child.on('error', (error) => out.destroy(new StageError(`cannot run git: ${error.message}`)));
  child.on('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(new StageError(`git archive of ${folder || '.'} at ${sha.slice(0, 12)} failed: ${stderr.trim().split('\n')[0]}`));
  });
  return out;
}
