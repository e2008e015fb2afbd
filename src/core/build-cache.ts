/**
 * The build cache a fresh machine takes from the registry: which images to start from, and what the Engine API's
 * classic builder cannot build.
 */
import type { PipelineConfig } from '../config/schema.js';
import { branchTag } from './tag.js';

/**
 * The images whose layers a build may reuse, best first: the branch's own last push, then what each environment
 * deploys by default (`defaultTag`: what develop or master pushed), without repeats. None without a registry, or
 * with `build.cache: false`.
 */
export function cacheCandidates(config: Pick<PipelineConfig, 'image' | 'registry' | 'build' | 'environments'>, tag: string): string[] {
  if (!config.registry || config.build.cache === false) return [];
  const tags = [
    tag,
    ...Object.values(config.environments).flatMap((env) => (env.defaultTag === undefined ? [] : [branchTag(env.defaultTag)])),
  ];
  return [...new Set(tags)].map((t) => `${config.image}:${t}`);
}

/** A pull that failed because the registry has no such tag or repository: for a cache image, no error. */
export function isMissingImage(message: string): boolean {
  return /manifest unknown|not found|name unknown|does not exist|repository name not known/i.test(message);
}

/**
 * The first thing in a Dockerfile that needs BuildKit, which the Engine API's classic builder does not have; undefined
 * when there is none. Parser directives (`# syntax=`) come before anything else; flags are read from instructions,
 * with their continuation lines joined.
 */
export function buildKitFeature(dockerfile: string): string | undefined {
  const lines = dockerfile.split(/\r?\n/);
  for (const line of lines) {
    const directive = /^#\s*([a-zA-Z]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!directive) break;
    if (directive[1]!.toLowerCase() === 'syntax') return `the parser directive "# syntax=${directive[2]}"`;
  }
  for (const instruction of instructions(lines)) {
    const [keyword = '', ...words] = instruction.split(/\s+/);
    const name = keyword.toUpperCase();
    const flags = leadingFlags(words);
    if (name === 'RUN') {
      const flag = flags.find((f) => ['--mount', '--network', '--security'].includes(f));
      if (flag) return `RUN ${flag}`;
    }
    if ((name === 'COPY' || name === 'ADD') && flags.includes('--link')) return `${name} --link`;
    if (['RUN', 'COPY', 'ADD'].includes(name) && /^<<-?["']?[A-Za-z_]/.test(words[flags.length] ?? ''))
      return `a here-document (${name} <<…)`;
  }
  return undefined;
}

/** An instruction's flags (`--mount=type=cache`), names only: those before its first argument. */
function leadingFlags(words: readonly string[]): string[] {
  const flags: string[] = [];
  for (const word of words) {
    if (!word.startsWith('--')) break;
    flags.push(word.replace(/=.*$/, ''));
  }
  return flags;
}

/** The instructions of a Dockerfile, continuation lines joined, comments and blank lines left out. */
function instructions(lines: readonly string[]): string[] {
  const out: string[] = [];
  let current = '';
  for (const raw of lines) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    out.push(current + line);
    current = '';
  }
  if (current !== '') out.push(current);
  return out;
}
