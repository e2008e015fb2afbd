import type Docker from 'dockerode';
import { pullImage } from '../adapters/docker.js';
import type { RegistryAuth } from '../core/registry.js';
import { withHeartbeat, withTimeout } from '../core/time.js';
import type { Log } from './target.js';

const PULL_TIMEOUT_MS = 15 * 60_000;

/** Pulls an image on an engine with the credentials (sent with this pull only), saying so while it runs, within 15 minutes. */
export async function pullOn(
  docker: Docker,
  ref: string,
  auth: RegistryAuth | undefined,
  log: Log,
  what = `pulling ${ref}`,
): Promise<void> {
  log(what);
  await withHeartbeat(withTimeout(pullImage(docker, ref, auth, log), PULL_TIMEOUT_MS, what), log, what);
}
