import { renewalOverdue } from '../core/lease.js';
import { findEnvironment } from '../core/resolve.js';
import { describeLock, isExpired, type LockInfo } from '../deploy/lock.js';
import { type CommonArgs, createDeps, load } from './commands.js';
import { onEveryMember } from './members.js';

interface LockArgs extends CommonArgs {
  action: 'status' | 'release';
  environment: string;
}

/** `pipeline lock status|release ENV`: who holds an environment's deploy lock on each host, and freeing a dead deploy's lock. */
export async function lockCommand(args: LockArgs): Promise<number> {
  const loaded = await load(args);
  const environment = findEnvironment(loaded.config, args.environment);
  const target = createDeps(loaded, new AbortController().signal).targets.get(environment);
  const outcomes = await onEveryMember(target, async ({ id }) => {
    const lock = await target.readLock(id);
    if (args.action === 'status') {
      return `${id}: ${lock ? `locked by ${describeLock(lock)}${lockState(lock, loaded.config.lockTtl)}` : 'free'}`;
    }
    if (!lock) return `${id}: no lock`;
    await target.breakLock(id);
    return `${id}: released the lock of ${lock.holder.user} on ${lock.holder.machine}`;
  });
  process.stdout.write(`${outcomes.map((o) => (o.ok ? o.value : `${o.member.id}: unreachable: ${o.error}`)).join('\n')}\n`);
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

/** What became of a lock's holder: an expired lock is taken over by the next deploy; one no longer renewed soon will be. */
function lockState(lock: LockInfo, ttlMs: number): string {
  const now = new Date();
  if (isExpired(lock, now)) return ' (expired: the next deploy takes it over)';
  return renewalOverdue(Date.parse(lock.expiresAt), ttlMs, now.getTime())
    ? ' (no longer renewed: that deploy has most likely died; the next deploy takes it over once it expires)'
    : '';
}
