import picomatch from 'picomatch';
import type { PipelineConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { branchTag } from './tag.js';

/** The environment a name or alias stands for (`stage` → `qa`). */
export function findEnvironment(config: PipelineConfig, nameOrAlias: string): string {
  if (config.environments[nameOrAlias]) return nameOrAlias;
  const owner = Object.entries(config.environments).find(([, env]) => env.aliases.includes(nameOrAlias));
  if (owner) return owner[0];
  const known = Object.entries(config.environments).map(([name, env]) =>
    env.aliases.length ? `${name} (${env.aliases.join(', ')})` : name,
  );
  throw new ConfigError(`unknown environment "${nameOrAlias}"; known: ${known.join(', ')}`);
}

export interface Revision {
  branch?: string;
  tags: string[];
}

/** The environments whose `on.branches` match the branch or whose `on.tags` match a tag at HEAD, in config order. */
export function resolveEnvironments(config: PipelineConfig, revision: Revision): string[] {
  return Object.entries(config.environments)
    .filter(
      ([, env]) =>
        (revision.branch !== undefined && matchesAny(env.on.branches, revision.branch)) ||
        revision.tags.some((tag) => matchesAny(env.on.tags, tag)),
    )
    .map(([name]) => name);
}

function matchesAny(patterns: string[], value: string): boolean {
  return patterns.some((pattern) => pattern === value || picomatch.isMatch(value, pattern, { dot: true }));
}

/**
 * The tag to deploy: --docker-tag (made a valid tag by the branch rule), else the
 * tag this run built, else the environment's defaultTag (`pipeline deploy ENV`).
 */
export function deployTagFor(config: PipelineConfig, environment: string, dockerTag?: string, builtTag?: string): string {
  if (dockerTag !== undefined) return branchTag(dockerTag);
  if (builtTag !== undefined) return builtTag;
  const defaultTag = config.environments[environment]!.defaultTag;
  if (defaultTag === undefined) throw new ConfigError(`environment ${environment} has no defaultTag: pass --docker-tag`);
  return branchTag(defaultTag);
}
