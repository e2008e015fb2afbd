import { createHash, randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { ExecResult, HostExec } from '../adapters/ports.js';
import type { CiInfo } from '../core/ci.js';

export type { HostExec };

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

/** What a deploy says of itself when it takes a lock; the rest of the record is made by newLock. */
export type LockFields = Pick<LockInfo, 'holder' | 'tag' | 'commit'>;

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

/** Exit status of the lock scripts when the lock is another deploy's. */
const HELD = 3;
/** A claim on an expired record older than this was left by a deploy that died while taking it over. */
const STALE_CLAIM_MINUTES = 1;

/**
 * Takes the lock in one command. The record (stdin) is written into a staging folder and renamed
 * into place: a rename onto a folder that exists fails, so of two deploys only one gets the lock,
 * and a lock folder always holds its record.
 * $4, when set, is the record of a lock the caller found expired, and $3 a file name made from it.
 * The lock folder stays where it is during a takeover, so no plain take can slip in: the first deploy
 * to link its record as that claim (a link to a name that exists fails) replaces the expired record
 * in one rename, if the lock still holds it; the others wait for the record to change, then name its
 * holder. A read always finds a whole record: the folder is never missing while it is held.
 * Exit 0: taken; 3: held, and stdout is the holder's record.
 */
const ACQUIRE_SCRIPT = `
dir=$1 staging=$2 claim=$3 expired=$4
trap 'rm -rf "$staging"' EXIT
mkdir -p "$staging" && cat >"$staging/lock.json" || exit 2
take() { mv -T "$staging" "$dir" 2>/dev/null; }
holds() { [ "$(cat "$dir/lock.json" 2>/dev/null; printf x)" = "$1"x ]; }
held() { cat "$dir/lock.json" 2>/dev/null; exit ${HELD}; }
if [ -z "$expired" ]; then
  # A lock removed between a failed take and the read is free: take it, or read who took it.
  for i in 1 2 3 4 5 6 7 8 9 10; do
    take && exit 0
    [ -e "$dir/lock.json" ] && held
    sleep 0.05
  done
  held
fi
find "\${claim%/*}" -maxdepth 1 -name "\${claim##*/}" -mmin +${STALE_CLAIM_MINUTES} -exec rm -f {} + 2>/dev/null
if ln "$staging/lock.json" "$claim" 2>/dev/null; then
  holds "$expired" && mv -f "$claim" "$dir/lock.json" && exit 0
  rm -f "$claim"
  held
fi
i=0
while [ $i -lt 100 ]; do holds "$expired" || held; sleep 0.05; i=$((i + 1)); done
held
`;

/** Replaces the record if it is the one starting with $2 (this deploy's); the new one comes on stdin. Exit 3: not ours. */
const RENEW_SCRIPT = `
dir=$1 mine=$2
case $(cat "$dir/lock.json" 2>/dev/null) in "$mine"*) ;; *) exit ${HELD} ;; esac
cat >"$dir/lock.json.new" && mv -f "$dir/lock.json.new" "$dir/lock.json"
`;

/** Removes the lock if its record starts with $2 (this deploy's). Exit 3: not ours. */
const REMOVE_SCRIPT = `
dir=$1 mine=$2
case $(cat "$dir/lock.json" 2>/dev/null) in "$mine"*) rm -rf "$dir" ;; *) exit ${HELD} ;; esac
`;

/**
 * Takes the lock on one host: one command, and one more to take over an expired lock. Of
 * several deploys taking the same lock, or the same expired lock, only one gets it.
 */
export async function acquireLock(exec: HostExec, dir: string, lock: LockInfo, now: Date): Promise<AcquireResult> {
  const first = await tryAcquire(exec, dir, lock);
  if (first.taken) return { acquired: true };
  const current = parseLock(first.holder);
  if (!current || !isExpired(current, now)) return { acquired: false, heldBy: current };
  const second = await tryAcquire(exec, dir, lock, first.holder);
  if (second.taken) return { acquired: true, tookOver: current };
  return { acquired: false, heldBy: parseLock(second.holder) };
}

async function tryAcquire(exec: HostExec, dir: string, lock: LockInfo, expired = ''): Promise<{ taken: boolean; holder: string }> {
  const claim = expired ? `${LOCKS_DIR}/.expired-${createHash('sha256').update(expired).digest('hex').slice(0, 32)}` : '';
  const argv = script(ACQUIRE_SCRIPT, dir, `${LOCKS_DIR}/.staging-${lock.id}`, claim, expired);
  const result = await exec(argv, { stdin: recordOf(lock), timeoutMs: EXEC_TIMEOUT_MS });
  if (result.code !== 0 && result.code !== HELD) throw scriptFailure('taking the lock', result);
  return { taken: result.code === 0, holder: result.stdout };
}

/** Extends the lock's time to live, if it is still this deploy's. */
export async function renewLock(exec: HostExec, dir: string, lock: LockInfo, now: Date, ttlMs: number): Promise<boolean> {
  const renewed = { ...lock, expiresAt: new Date(now.getTime() + ttlMs).toISOString() };
  const result = await exec(script(RENEW_SCRIPT, dir, recordStart(lock)), { stdin: recordOf(renewed), timeoutMs: EXEC_TIMEOUT_MS });
  if (result.code === HELD) return false;
  if (result.code !== 0) throw scriptFailure('renewing the lock', result);
  lock.expiresAt = renewed.expiresAt;
  return true;
}

/** Removes the lock if it is this deploy's (or any holder's, with `force`). */
export async function removeLock(exec: HostExec, dir: string, lock: LockInfo | 'force'): Promise<boolean> {
  const argv = lock === 'force' ? ['rm', '-rf', dir] : script(REMOVE_SCRIPT, dir, recordStart(lock));
  const result = await exec(argv, { timeoutMs: EXEC_TIMEOUT_MS });
  if (result.code === HELD && lock !== 'force') return false;
  if (result.code !== 0) throw scriptFailure('removing the lock', result);
  return true;
}

export async function readLock(exec: HostExec, dir: string): Promise<LockInfo | undefined> {
  const result = await exec(['cat', `${dir}/lock.json`], { timeoutMs: EXEC_TIMEOUT_MS });
  return result.code === 0 ? parseLock(result.stdout) : undefined;
}

/** A lock record as read from a host; anything unreadable is no record. */
export function parseLock(text: string): LockInfo | undefined {
  try {
    const lock = JSON.parse(text) as LockInfo | null;
    return typeof lock === 'object' && lock !== null && typeof lock.id === 'string' ? lock : undefined;
  } catch {
    return undefined;
  }
}

/** The record as written on hosts: the id always first, so that `recordStart` identifies it. */
export function recordOf(lock: LockInfo): string {
  const { id, ...fields } = lock;
  return JSON.stringify({ id, ...fields });
}

/** How every record of this lock begins: comparing it tells "still ours" in a shell, without a JSON parser. */
export function recordStart(lock: Pick<LockInfo, 'id'>): string {
  return `{"id":${JSON.stringify(lock.id)},`;
}

/** `sh -c SCRIPT sh ARGS…`: the script sees ARGS as $1…, each passed safely. */
function script(body: string, ...args: string[]): string[] {
  return ['sh', '-c', body, 'sh', ...args];
}

function scriptFailure(what: string, result: ExecResult): Error {
  return new Error(`${what} failed on the host (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
}

/** The holder a lock records: who runs the deploy, where, and the CI job if any. */
export function lockHolder(ci: CiInfo, env: NodeJS.ProcessEnv): LockInfo['holder'] {
  const user = env.CIRCLE_USERNAME || env.GITHUB_ACTOR || safeUsername();
  return { user, machine: hostname(), ...(ci.buildUrl ? { ciUrl: ci.buildUrl } : {}) };
}

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
