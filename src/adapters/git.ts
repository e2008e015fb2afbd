import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import type { ContextEntry } from '../core/dockerignore.js';
import { ConfigError, StageError } from '../errors.js';

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
  const sha = await commitAt(cwd, ref);
  if (sha === undefined) throw new ConfigError(`unknown git ref "${ref}"`);
  const symbolic = (await repo.raw(['rev-parse', '--symbolic-full-name', ref]).catch(() => '')).trim();
  const branch = /^refs\/heads\/(.+)$/.exec(symbolic)?.[1] ?? /^refs\/remotes\/[^/]+\/(.+)$/.exec(symbolic)?.[1];
  const tags = (await repo.raw(['tag', '--points-at', sha])).split('\n').filter(Boolean);
  const dirty = await hasUncommittedChanges(cwd);
  return { sha, branch, tags, repoRoot, dirty };
}

/** A file's content at a commit, or undefined when the commit does not have it. */
export async function showFile(repoRoot: string, sha: string, path: string): Promise<string | undefined> {
  const repo = await git(repoRoot);
  return repo.show([`${sha}:${path}`]).catch(() => undefined);
}

/**
 * A tar stream of a folder of a commit, as committed (`git archive`); it errors when git fails. Exclusion pathspecs
 * (relative to the folder) leave paths out before git reads them.
 */
export function archiveTree(repoRoot: string, sha: string, folder: string, exclusions: string[] = []): Readable {
  const args = ['archive', '--format=tar', folder ? `${sha}:${folder}` : sha];
  // `.` for git before 2.13, which wants something to exclude from.
  if (exclusions.length > 0) args.push('.', ...exclusions);
  const child = spawn('git', args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: pathspecEnv() });
  // The stream ends only once git's exit code is known, so a failed archive is never taken for a short one.
  const out = new PassThrough();
  child.stdout.pipe(out, { end: false });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  child.on('error', (error) => out.destroy(new StageError(`cannot run git: ${error.message}`)));
  child.on('close', (code) => {
    if (code === 0) out.end();
    else out.destroy(new StageError(`git archive of ${folder || '.'} at ${sha.slice(0, 12)} failed: ${stderr.trim().split('\n')[0]}`));
  });
  return out;
}

/** The environment without the variables that change how git reads pathspecs (literal, case-insensitive…). */
function pathspecEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['GIT_LITERAL_PATHSPECS', 'GIT_GLOB_PATHSPECS', 'GIT_NOGLOB_PATHSPECS', 'GIT_ICASE_PATHSPECS']) delete env[name];
  return env;
}

/** Every entry of a folder of a commit, folders included (`git ls-tree -r -t`), paths relative to it; no file is read. */
export async function listTree(repoRoot: string, sha: string, folder: string): Promise<ContextEntry[]> {
  const result = await runGit(repoRoot, ['ls-tree', '-r', '-t', '-z', folder ? `${sha}:${folder}` : sha]);
  if (result.code !== 0) throw new StageError(`cannot list ${folder || '.'} at ${sha.slice(0, 12)}: ${gitReason(result.stderr)}`);
  // Each entry is `<mode> <type> <object>\t<path>`.
  return result.stdout
    .split('\0')
    .filter(Boolean)
    .map((line) => {
      const tab = line.indexOf('\t');
      return { path: line.slice(tab + 1), type: line.slice(0, tab).split(' ')[1] as ContextEntry['type'] };
    });
}

interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs git with argv and reports its exit code: simple-git resolves a failed command that prints nothing to stderr. */
function runGit(cwd: string, args: string[]): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    // Decoded as a whole, so a character split between two chunks stays whole.
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', (error) => reject(new StageError(`cannot run git: ${error.message}`)));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** The line of git's stderr that says why it failed: a rejected ref's line, else the first fatal or error line. */
export function gitReason(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const line = lines.find((l) => l.startsWith('! [')) ?? lines.find((l) => /^(fatal|error):/.test(l)) ?? lines[0] ?? 'git failed';
  return line.replace(/^(fatal|error): |^! /, '').replace(/\s+/g, ' ');
}

/** Whether git accepts the name as a tag (`git check-ref-format`); a leading `-` would read as an option. */
export async function isValidTagName(cwd: string, name: string): Promise<boolean> {
  if (name.startsWith('-')) return false;
  return (await runGit(cwd, ['check-ref-format', `refs/tags/${name}`])).code === 0;
}

/** The commit a ref names, or undefined when it names none. */
export async function commitAt(cwd: string, ref: string): Promise<string | undefined> {
  const result = await runGit(cwd, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
  // --quiet makes an unknown ref fail silently; anything on stderr is git refusing the folder itself.
  if (result.stderr.trim()) throw new StageError(`${cwd}: ${gitReason(result.stderr)}`);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

/** Whether tracked files have uncommitted changes; untracked files do not count. */
export async function hasUncommittedChanges(cwd: string): Promise<boolean> {
  const result = await runGit(cwd, ['status', '--porcelain', '--untracked-files=no']);
  if (result.code !== 0) throw new StageError(`${cwd}: ${gitReason(result.stderr)}`);
  return result.stdout.trim() !== '';
}

/** The object a local tag points at (the tag object for an annotated tag), or undefined when there is no such tag. */
export async function localTagObject(cwd: string, tag: string): Promise<string | undefined> {
  const result = await runGit(cwd, ['rev-parse', '--verify', '--quiet', `refs/tags/${tag}`]);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

/** The commit a tag points at on a remote, or undefined when the remote has no such tag. */
export async function remoteTagCommit(cwd: string, remote: string, tag: string): Promise<string | undefined> {
  const ref = `refs/tags/${tag}`;
  const result = await runGit(cwd, ['ls-remote', '--end-of-options', remote, ref, `${ref}^{}`]);
  if (result.code !== 0) throw new StageError(`cannot read tag ${tag} from ${remote}: ${gitReason(result.stderr)}`);
  const refs = new Map(
    result.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [sha, name] = line.split('\t');
        return [name, sha] as const;
      }),
  );
  // An annotated tag is listed twice: the tag object, then (`^{}`) the commit it points at.
  return refs.get(`${ref}^{}`) ?? refs.get(ref);
}

/** Creates the annotated tag at the commit, or moves it there when it exists. */
export async function moveAnnotatedTag(cwd: string, tag: string, sha: string, message: string): Promise<void> {
  const result = await runGit(cwd, ['tag', '--annotate', '--force', '--message', message, '--end-of-options', tag, sha]);
  if (result.code !== 0) throw new StageError(`cannot tag ${sha.slice(0, 12)} as ${tag}: ${gitReason(result.stderr)}`);
}

/** Puts a local tag back where it was (deleting it when it did not exist), after a failed push. */
export async function restoreTag(cwd: string, tag: string, object: string | undefined): Promise<void> {
  const ref = `refs/tags/${tag}`;
  await runGit(cwd, object ? ['update-ref', ref, object] : ['update-ref', '-d', ref]);
}

/** Pushes the tag, replacing the remote's tag of that name whatever it points at. */
export async function forcePushTag(cwd: string, remote: string, tag: string): Promise<void> {
  const result = await runGit(cwd, ['push', '--force', '--end-of-options', remote, `refs/tags/${tag}`]);
  if (result.code !== 0) throw new StageError(`cannot push tag ${tag} to ${remote}: ${gitReason(result.stderr)}`);
}
