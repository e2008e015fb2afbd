import { randomUUID } from 'node:crypto';
import type { ExecResult } from '../adapters/ssh.js';

/** Runs a program on a host with its arguments passed safely, in the deploy user's home. */
export type HostExec = (argv: string[], options?: { stdin?: string; timeoutMs?: number }) => Promise<ExecResult>;

/** Who holds a deploy lock, what they deploy, and until when. */
export interface LockInfo {
  id: string;
  environment: string;
  holder: { user: string; machine: string; ciUrl?: string };
  tag?: string;
  commit?: string;
  acquiredAt: string;
  expiresAt: string;
}

export const LOCKS_DIR = '.pipeline/locks';
const EXEC_TIMEOUT_MS = 20_000;

export function lockDir(project: string, environment: string): string {
  return `${LOCKS_DIR}/${project}-${environment}`;
}

export function newLock(fields: Omit<LockInfo, 'id' | 'acquiredAt' | 'expiresAt'>, now: Date, ttlMs: number): LockInfo {
  return { id: randomUUID(), ...fields, acquiredAt: now.toISOString(), expiresAt: new Date(now.getTime() + ttlMs).toISOString() };
}

export function isExpired(lock: LockInfo, now: Date): boolean {
  return Date.parse(lock.expiresAt) <= now.getTime();
}

/** "alice on laptop (https://ci/job/1) since 12:00:00Z, deploying develop, expires 12:15:00Z" */
export function describeLock(lock: LockInfo): string {
  const ci = lock.holder.ciUrl ? ` (${lock.holder.ciUrl})` : '';
  const what = lock.tag ? `, deploying ${lock.tag}${lock.commit ? ` at ${lock.commit.slice(0, 12)}` : ''}` : '';
  return `${lock.holder.user} on ${lock.holder.machine}${ci} since ${lock.acquiredAt}${what}, expires ${lock.expiresAt}`;
}

export type AcquireResult = { acquired: true; tookOver?: LockInfo } | { acquired: false; heldBy: LockInfo | undefined };

/**
 * Takes the lock on one host. The record is written into a staging folder and
 * renamed into place: a rename onto a folder that exists fails, so of two
 * deploys only one gets the lock, and a lock folder always holds its record.
 * An expired lock is first renamed away (also atomic) and then replaced.
 */
export async function acquireLock(exec: HostExec, dir: string, lock: LockInfo, now: Date): Promise<AcquireResult> {
  const staging = `${LOCKS_DIR}/.staging-${lock.id}`;
  await run(exec, ['mkdir', '-p', staging]);
  try {
    await writeLock(exec, staging, lock);
    if (await moveInto(exec, staging, dir)) return { acquired: true };
    const current = await readLock(exec, dir);
    if (current && !isExpired(current, now)) return { acquired: false, heldBy: current };
    const tomb = `${LOCKS_DIR}/.expired-${lock.id}`;
    if (current && await moveInto(exec, dir, tomb)) {
      const moved = await readLock(exec, tomb);
      if (moved?.id !== current.id) {
        // Another deploy replaced the expired lock between our read and our rename: put its lock back.
        await moveInto(exec, tomb, dir);
        return { acquired: false, heldBy: moved };
      }
      await run(exec, ['rm', '-rf', tomb]);
    }
    if (await moveInto(exec, staging, dir)) return { acquired: true, tookOver: current };
    return { acquired: false, heldBy: await readLock(exec, dir) };
  } finally {
    await exec(['rm', '-rf', staging], { timeoutMs: EXEC_TIMEOUT_MS });
  }
}

async function moveInto(exec: HostExec, from: string, to: string): Promise<boolean> {
  return (await exec(['mv', '-T', from, to], { timeoutMs: EXEC_TIMEOUT_MS })).code === 0;
}

/** Extends the lock's time to live, if it is still this deploy's. */
export async function renewLock(exec: HostExec, dir: string, lock: LockInfo, now: Date, ttlMs: number): Promise<boolean> {
  const current = await readLock(exec, dir);
  if (current?.id !== lock.id) return false;
  lock.expiresAt = new Date(now.getTime() + ttlMs).toISOString();
  await writeLock(exec, dir, lock);
  return true;
}

/** Releases the lock if it is this deploy's (or any holder's, with `force`). */
export async function releaseLock(exec: HostExec, dir: string, lock: LockInfo | 'force'): Promise<boolean> {
  if (lock !== 'force') {
    const current = await readLock(exec, dir);
    if (current?.id !== lock.id) return false;
  }
  await run(exec, ['rm', '-rf', dir]);
  return true;
}

export async function readLock(exec: HostExec, dir: string): Promise<LockInfo | undefined> {
  const result = await exec(['cat', `${dir}/lock.json`], { timeoutMs: EXEC_TIMEOUT_MS });
  if (result.code !== 0) return undefined;
  try {
    return JSON.parse(result.stdout) as LockInfo;
  } catch {
    return undefined;
  }
}

async function writeLock(exec: HostExec, dir: string, lock: LockInfo): Promise<void> {
  // `tee` writes its stdin to the file: the record never travels in a command line.
  await run(exec, ['tee', `${dir}/lock.json`], JSON.stringify(lock));
}

async function run(exec: HostExec, argv: string[], stdin?: string): Promise<ExecResult> {
  const result = await exec(argv, { stdin, timeoutMs: EXEC_TIMEOUT_MS });
  if (result.code !== 0) throw new Error(`${argv[0]} failed on the host (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  return result;
}
