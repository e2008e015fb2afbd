/** Reading an SSH config file as ssh does: Include lines expanded in place (globs, `~`, relative to ~/.ssh). */
import { readdir, readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import picomatch from 'picomatch';
import { parseSshConfig, type SshConfigEntry, type SshConfigFile } from '../../core/ssh-config.js';
import { ConfigError } from '../../errors.js';

/** OpenSSH's READCONF_MAX_DEPTH. */
const MAX_INCLUDE_DEPTH = 16;

/**
 * The config at `path` with its Includes read; undefined when it does not exist and is not `required`
 * (ssh reads ~/.ssh/config only when there is one).
 */
export async function readSshConfig(path: string, home: string, required: boolean): Promise<SshConfigFile | undefined> {
  const text = await readText(path, required);
  if (text === undefined) return undefined;
  return { path, entries: await withIncludes(parseSshConfig(text, path), path, home, 0) };
}

async function readText(path: string, required: boolean): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return undefined;
    throw new ConfigError(`cannot read SSH config ${path}: ${code ?? (error as Error).message}`, { cause: error });
  }
}

async function withIncludes(entries: SshConfigEntry[], path: string, home: string, depth: number): Promise<SshConfigEntry[]> {
  return Promise.all(
    entries.map(async (entry) => {
      if (entry.keyword !== 'include') return entry;
      if (depth >= MAX_INCLUDE_DEPTH) throw new ConfigError(`SSH config ${path}: Include nested more than ${MAX_INCLUDE_DEPTH} deep`);
      const files = (await Promise.all(entry.args.map((pattern) => matchingFiles(includePath(pattern, home))))).flat();
      const included: SshConfigEntry[] = [];
      for (const file of files) {
        // A file a glob named may be gone by now, as with ssh: only what can be read is included.
        const text = await readText(file, false);
        if (text !== undefined) included.push(...(await withIncludes(parseSshConfig(text, file), file, home, depth + 1)));
      }
      return { ...entry, included };
    }),
  );
}

/** `~` is the home folder; a relative path is in ~/.ssh (ssh_config(5) for a user's configuration). */
function includePath(pattern: string, home: string): string {
  if (pattern === '~' || pattern.startsWith('~/')) return join(home, pattern.slice(1));
  return isAbsolute(pattern) ? pattern : join(home, '.ssh', pattern);
}

/** The files a glob names, sorted as glob(3) sorts them; a plain path that does not exist names none. */
async function matchingFiles(pattern: string): Promise<string[]> {
  const parts = pattern.split('/');
  let found = [parts[0] === '' ? '/' : parts[0]!];
  for (const part of parts.slice(1)) {
    if (part === '') continue;
    if (!picomatch.scan(part).isGlob) {
      found = found.map((dir) => join(dir, part));
      continue;
    }
    const matches = picomatch(part, { dot: false });
    const next = await Promise.all(
      found.map(async (dir) =>
        (await readdir(dir).catch(() => [] as string[]))
          .filter((name) => matches(name))
          .sort()
          .map((name) => join(dir, name)),
      ),
    );
    found = next.flat();
  }
  return found;
}
