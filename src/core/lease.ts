/**
 * The deploy lock as a lease: when the live deploy renews it, and how a deploy that finds it held waits for it.
 * Pure decisions over times in milliseconds; the lock's I/O is in deploy/environment-lock.ts and deploy/lock-wait.ts.
 */
import type { CiInfo } from './ci.js';
import { parseDuration } from './duration.js';

/** How long a deploy waits for a held lock in CI when `--lock-wait` is not given: two merges in a row both deploy. */
export const CI_LOCK_WAIT_MS = 10 * 60_000;

/** `--lock-wait` as typed: `0`, or a duration such as `90s` or `10m`; undefined when it is neither. */
export function parseLockWait(text: string): number | undefined {
  return text.trim() === '0' ? 0 : parseDuration(text);
}

/** How long this deploy waits for a held lock: `--lock-wait`, else 10 minutes in CI and not at all at a terminal. */
export function lockWaitMs(given: number | undefined, ci: Pick<CiInfo, 'provider'>): number {
  return given ?? (ci.provider ? CI_LOCK_WAIT_MS : 0);
}

/** Polling a held lock: the first retry after `firstMs`, each later one twice as late, at most `maxMs` apart. */
export interface LockPolling {
  firstMs: number;
  maxMs: number;
}
export const LOCK_POLLING: LockPolling = { firstMs: 1_000, maxMs: 10_000 };
/** A retry for a lease that expires is made this long after its expiry, so that the holder's clock has passed it too. */
export const AFTER_EXPIRY_MS = 500;

export interface LockRefusal {
  /** Refusals so far, this one included (1 after the first). */
  attempt: number;
  /** Time since the first refusal. */
  waitedMs: number;
  /** Time until the holder's lease expires (negative: expired), when its record could be read. */
  expiresInMs?: number;
}

/**
 * How long to wait before trying again for a held lock, or undefined to give up: the deadline (`waitMs`) has passed.
 * Backoff from `firstMs` doubling to `maxMs`, spread by `random` (0 to 1) so that deploys waiting together do not
 * retry in step; never later than just after the holder's lease expires (a dead holder's lock is then taken over),
 * and never past the deadline, where one last attempt is made.
 */
export function nextLockAttempt(
  waitMs: number,
  refusal: LockRefusal,
  random = 0.5,
  polling: LockPolling = LOCK_POLLING,
): number | undefined {
  const left = waitMs - refusal.waitedMs;
  if (left <= 0) return undefined;
  const backoff = Math.min(polling.maxMs, polling.firstMs * 2 ** Math.max(0, refusal.attempt - 1));
  const spread = Math.round(backoff * (0.75 + random / 2));
  const untilExpiry = refusal.expiresInMs === undefined ? Infinity : Math.max(0, refusal.expiresInMs) + AFTER_EXPIRY_MS;
  return Math.min(spread, untilExpiry, left);
}

/**
 * When the live deploy renews its lease on a member next, `nowMs`, with the lease as last written there expiring at
 * `expiresAtMs`: once two thirds of it are left (a third of the TTL after it was written); after a renewal that failed,
 * again soon (a ninth of the TTL, at least a second, and within half the time left), as long as the lease has not expired. 'lost': it has, and another
 * deploy may have taken it over.
 */
export function nextRenewal(ttlMs: number, expiresAtMs: number, nowMs: number, lastFailed: boolean): number | 'lost' {
  const left = expiresAtMs - nowMs;
  if (left <= 0) return 'lost';
  if (lastFailed) return Math.min(Math.max(1_000, Math.round(ttlMs / 9)), Math.round(left / 2));
  return Math.max(0, Math.round(left - (ttlMs * 2) / 3));
}

/**
 * Whether the holder of a lease expiring at `expiresAtMs` has stopped renewing it: a live deploy renews it once a third
 * of the TTL has passed (the record then expires a whole TTL later); one that has not for a ninth more (at least 5 s)
 * has most likely died, and its lease will run out.
 */
export function renewalOverdue(expiresAtMs: number, ttlMs: number, nowMs: number): boolean {
  const renewedAt = expiresAtMs - ttlMs;
  return nowMs - renewedAt > ttlMs / 3 + Math.max(5_000, ttlMs / 9);
}

/** "10m", "45s", "1m30s": a wait as people read it. */
export function describeWait(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const minutes = Math.floor(seconds / 60);
  if (minutes === 0) return `${seconds}s`;
  return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
}
