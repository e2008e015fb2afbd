import { engineMessage } from '../adapters/docker.js';
import { withTimeout } from '../core/time.js';
import { HostError } from '../errors.js';

const API_TIMEOUT_MS = 60_000;

/** A Docker API call on a host or manager, given a time limit; a failure names the host and what was being done. */
export function engineCall<T>(host: string, promise: Promise<T>, what: string, timeoutMs = API_TIMEOUT_MS): Promise<T> {
  return withTimeout(promise, timeoutMs, what).catch((error) => {
    throw new HostError(host, `${what}: ${error instanceof HostError ? error.reason : engineMessage(error)}`, { cause: error });
  });
}
