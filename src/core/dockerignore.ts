import { posix } from 'node:path';
import dockerignoreModule from '@balena/dockerignore';

// The package is CommonJS: at run time the default import is the function its types call `default`.
const dockerignore = dockerignoreModule as unknown as typeof dockerignoreModule.default;

/** An entry of the committed context folder, its path relative to the folder. */
export interface ContextEntry {
  path: string;
  /** `commit` is a submodule, which the archive holds as an empty folder. */
  type: 'blob' | 'tree' | 'commit';
}

/** The patterns of a `.dockerignore` file: its lines trimmed, without blank lines and `#` comments. */
export function dockerignorePatterns(text: string | undefined): string[] {
  return (text ?? '')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
}

/** A path of the context as the filter compares it: no leading `./`, no trailing `/` (a tar names folders `dir/`). */
export function contextPath(name: string): string {
  return name.replace(/^\.\//, '').replace(/\/+$/, '');
}

/**
 * Whether Docker sends a path of the context: not when `.dockerignore` excludes it, except the Dockerfile and
 * `.dockerignore` itself, which the docker CLI always sends. The answer for a folder is about its entry alone.
 */
export function contextFilter(patterns: string[], dockerfile: string): (path: string) => boolean {
  const ignore = dockerignore({ ignorecase: false }).add(patterns);
  const keep = new Set([contextPath(dockerfile), '.dockerignore']);
  return (path) => keep.has(path) || !ignore.ignores(path);
}

// Characters @balena/dockerignore reads as regular-expression syntax (it escapes only `.` and `$`), and those git's
// glob reads its own way: `?` is one UTF-16 unit there but one byte in git, `[...]` and `\` differ in detail.
// Control characters are left out too (git cannot take a NUL in an argument).
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it looks for.
const DOUBTFUL = /[\\?[\]{}()+^|\x00-\x1f\x7f]/;

/**
 * A positive pattern as @balena/dockerignore cleans it (Go's filepath.Clean, then no leading `/`), when git's glob
 * matches it the same way; undefined for a `!` pattern and for anything doubtful.
 *
 * Then `*` is any run of characters but `/` for both; a `**` segment is any number of folders for both (`**` alone is
 * everything, `a/**` everything inside `a`); a pattern without wildcards matches its path and everything under it
 * for both. Docker goes further — a pattern that matches a folder also excludes everything under it — so git never
 * leaves out more than the pattern does on its own.
 */
function globPattern(line: string): string | undefined {
  let pattern = line.trim();
  if (pattern === '' || pattern.startsWith('#') || pattern.startsWith('!')) return undefined;
  pattern = clean(pattern);
  if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
  pattern = pattern.trim();
  if (pattern === '') return undefined;
  pattern = clean(pattern);
  // `!` or `#` in front would read as a re-include or a comment when the pattern is given to the filter alone.
  if (/^[!#]|^\s|\s$/.test(pattern) || DOUBTFUL.test(pattern)) return undefined;
  const segments = pattern.split('/');
  if (segments.some((segment) => segment === '' || segment === '.' || segment === '..' || (segment !== '**' && segment.includes('**'))))
    return undefined;
  return pattern;
}

function clean(pattern: string): string {
  return posix.normalize(pattern).replace(/(?<=.)\/$/, '');
}

/** The pathspec with which `git archive` leaves out no more than the pattern excludes, or undefined when there is none. */
export function exclusionPathspec(pattern: string): string | undefined {
  const glob = globPattern(pattern);
  return glob === undefined ? undefined : `:(exclude,glob)${glob}`;
}

/**
 * The exclusion pathspecs to give `git archive` of the context, so that git never reads files Docker will not get
 * and its archive still holds every entry Docker gets: the filter then sees the entries of the whole archive, less
 * some it would drop anyway.
 *
 * A pattern that translates is given to git only when no file it matches on its own has to stay in the archive:
 * - a file Docker gets. Checking the committed files, rather than reasoning about the patterns, is what keeps a later
 *   `!` re-include, and the Dockerfile and .dockerignore that are always sent, out of git's exclusions;
 * - a file of a folder Docker gets without any of its files (`dir/*` sends `dir/` empty): given pathspecs,
 *   `git archive` writes a folder only on its way to a file (or submodule) in it.
 * Nothing is given when nothing has to stay (git refuses a pathspec that leaves nothing) or when a folder Docker
 * gets holds no file at all (an empty tree, which git writes only without pathspecs).
 */
export function gitExclusions(patterns: string[], sent: (path: string) => boolean, entries: readonly ContextEntry[]): string[] {
  const globs = [...new Set(patterns.map(globPattern).filter((glob) => glob !== undefined))];
  if (globs.length === 0) return [];
  const files = entries.filter((entry) => entry.type !== 'tree').map((entry) => entry.path);
  const withFile = new Set<string>();
  const withSentFile = new Set<string>();
  for (const file of files) {
    const isSent = sent(file);
    for (const folder of folders(file)) {
      withFile.add(folder);
      if (isSent) withSentFile.add(folder);
    }
  }
  const bare = new Set(
    entries.filter((entry) => entry.type === 'tree' && sent(entry.path) && !withSentFile.has(entry.path)).map((entry) => entry.path),
  );
  if ([...bare].some((folder) => !withFile.has(folder))) return [];
  const mustStay = files.filter((file) => sent(file) || (bare.size > 0 && folders(file).some((folder) => bare.has(folder))));
  if (mustStay.length === 0) return [];
  return globs
    .filter((glob) => {
      const alone = dockerignore({ ignorecase: false }).add([glob]);
      return !mustStay.some((file) => alone.ignores(file));
    })
    .map((glob) => `:(exclude,glob)${glob}`);
}

/** The folders a path is in: `a/b/c` is in `a` and `a/b`. */
function folders(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}
