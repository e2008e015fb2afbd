import type Docker from 'dockerode';
import { hasImage } from '../../adapters/docker.js';
import type { RegistryAuth } from '../../core/registry.js';
import { Relay } from '../../core/relay.js';
import { pullOn } from '../pull.js';
import type { EarlyPull, Log } from '../target.js';

/** Starts pulling the release by its digest on a host before the deploy (while the tests run): nothing is tagged or started. */
export function startEarlyPull(engine: Promise<Docker>, ref: string, auth: RegistryAuth | undefined): EarlyPull {
  const relay = new Relay();
  const done = engine
    .then(async (docker) => {
      if (await hasImage(docker, ref)) return relay.write(`${ref.split('@')[1]!.slice(0, 19)} is here already`);
      await pullOn(docker, ref, auth, relay.write, `pulling ${ref} (untagged until the tests pass)`);
    })
    .finally(() => relay.end());
  done.catch(() => undefined);
  return { ref, done, follow: (log) => relay.follow(log) };
}

/**
 * Whether a host has the release by its digest, once the pull it began while the tests ran (shown in `log` from now on)
 * is over; if that pull failed, it says so and the answer is no, so the deploy pulls again. Never rejects.
 */
export async function hasRelease(docker: Docker, early: EarlyPull | undefined, pinned: string, log: Log): Promise<boolean> {
  if (early?.ref === pinned) {
    early.follow(log);
    await early.done.catch((error: Error) => log(`the pull begun while testing failed (${error.message}); pulling again`));
  }
  return hasImage(docker, pinned);
}
