import { StageError } from '../errors.js';

/** Rejects with "<what> timed out after Ns" when the promise takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StageError(`${what} timed out after ${ms / 1000}s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Says "<what>: still running (Ns)" every `everyMs` until the promise settles, so a slow step is never silent. */
export function withHeartbeat<T>(promise: Promise<T>, log: (line: string) => void, what: string, everyMs = 10_000): Promise<T> {
  const started = Date.now();
  const timer = setInterval(() => log(`${what}: still running (${Math.round((Date.now() - started) / 1000)}s)`), everyMs);
  return promise.finally(() => clearInterval(timer));
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
