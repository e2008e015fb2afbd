import type Docker from 'dockerode';
import { isMissingImage } from '../core/build-cache.js';
import { credentialsFor, type RegistryAccess } from '../core/registry.js';
import { hasImage, pullImage } from './docker.js';

/**
 * The cache images a build can use: each candidate the engine has, or pulls now from the registry (the classic
 * builder ignores `cachefrom` images it does not have). One the registry does not have is left out with one line;
 * so is one that cannot be pulled, since a build without a cache is only slower.
 */
export async function cacheImages(
  docker: Docker,
  candidates: readonly string[],
  registry: RegistryAccess | undefined,
  say: (line: string) => void,
  signal?: AbortSignal,
): Promise<string[]> {
  const present = await Promise.all(
    candidates.map(async (ref) => {
      if (await hasImage(docker, ref)) return true;
      try {
        say(`cache: pulling ${ref}`);
        await pullImage(docker, ref, credentialsFor(registry, ref), (line) => say(`cache: ${ref}: ${line}`), signal);
        return true;
      } catch (error) {
        const reason = (error as Error).message.replace(/^pull of \S+ failed: /, '');
        say(isMissingImage(reason) ? `cache: ${ref} is not in the registry` : `cache: cannot pull ${ref} (${reason}); building without it`);
        return false;
      }
    }),
  );
  return candidates.filter((_, i) => present[i]);
}
