import { ConfigError } from '../errors.js';

/** Docker's limit on the length of a tag. */
export const MAX_TAG_LENGTH = 128;

/**
 * The Docker tag for a branch, as the documented process makes it: slashes are
 * removed (`feature/rotate_collage_products` → `featurerotate_collage_products`),
 * any other character a tag may not hold becomes `-`, leading `.`/`-` are
 * dropped (a tag must start with a letter, digit or `_`), and it is cut at 128.
 */
export function branchTag(branch: string): string {
  const tag = branch
    .replaceAll('/', '')
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, MAX_TAG_LENGTH);
  if (tag === '') throw new ConfigError(`branch "${branch}" gives an empty Docker tag`);
  return tag;
}

/** Whether a string is already a valid Docker tag. */
export function isDockerTag(tag: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag);
}
