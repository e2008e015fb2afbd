import { describeWait, nextLockAttempt } from '../core/lease.js';
import { StageError } from '../errors.js';
import { type LeaseWatch, LockHeldError } from './environment-lock.js';
import { describeLock, type LockFields, type LockInfo } from './lock.js';
import type { DeployTarget } from './target.js';

export interface LockWaitOptions {
  /** How long to wait for a deploy that holds the lock (`--lock-wait`); 0: fail at once. */
  waitMs: number;
  signal: AbortSignal;
  /** A line for the task list: whom the deploy waits for, and when it proceeds. */
  say(line: string): void;
  watch?: LeaseWatch;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

/**
 * Takes the environment's lock; while another deploy holds it, queues behind it for up to `waitMs`, trying again as
 * `nextLockAttempt` says (a holder whose lease expires meanwhile is taken over, as always), then proceeds.
 */
export async function takeLock(
  target: Pick<DeployTarget, 'lock'>,
  fields: LockFields,
  options: LockWaitOptions,
): Promise<{ tookOver: LockInfo[] }> {
  const { waitMs, signal, say, sleep = abortableSleep, now = Date.now, random = Math.random } = options;
  let firstRefusal: number | undefined;
  let holder: string | undefined;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const taken = await target.lock(fields, options.watch);
      if (firstRefusal !== undefined) say(`the lock is free after waiting ${describeWait(now() - firstRefusal)}: proceeding`);
      return taken;
    } catch (error) {
      if (!(error instanceof LockHeldError)) throw error;
      const at = now();
      firstRefusal ??= at;
      const expiresInMs = error.heldBy ? Date.parse(error.heldBy.expiresAt) - at : undefined;
      const delay = nextLockAttempt(
        waitMs,
        { attempt, waitedMs: at - firstRefusal, ...(expiresInMs !== undefined && !Number.isNaN(expiresInMs) ? { expiresInMs } : {}) },
        random(),
      );
      if (delay === undefined) throw refusal(error, waitMs);
      const heldBy = error.heldBy?.id ?? 'unreadable';
      if (heldBy !== holder)
        say(
          `waiting up to ${describeWait(waitMs)} for the lock: ${error.environment} is locked by ${error.heldBy ? describeLock(error.heldBy) : 'another deploy'} (on ${error.member})`,
        );
      holder = heldBy;
      await sleep(delay, signal);
    }
  }
}

/** The refusal as the user reads it: at once, with how to queue instead; after waiting, saying how long. */
function refusal(error: LockHeldError, waitMs: number): LockHeldError | StageError {
  if (waitMs === 0) return new StageError(`${error.message}; to queue behind it instead: --lock-wait 10m`);
  const holder = error.heldBy ? describeLock(error.heldBy) : 'another deploy';
  return new StageError(
    `${error.environment} is still locked after waiting ${describeWait(waitMs)}, by ${holder} (on ${error.member}); if that deploy is dead, run: pipeline lock release ${error.environment}`,
  );
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new StageError('stopped by a signal'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new StageError('stopped by a signal'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
