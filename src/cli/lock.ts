import { describeLock, isExpired, lockDir, readLock, releaseLock } from '../deploy/lock.js';
import { planDeploy } from '../core/plan.js';
import { findEnvironment } from '../core/resolve.js';
import { createDeps, load, type CommonArgs } from './commands.js';
import { onEveryHost } from './hosts.js';

interface LockArgs extends CommonArgs { action: 'status' | 'release'; environment: string }

/** `pipeline lock status|release ENV`: who holds an environment's deploy lock on each host, and freeing a dead deploy's lock. */
export async function lockCommand(args: LockArgs): Promise<number> {
  const loaded = await load(args);
  const environment = findEnvironment(loaded.config, args.environment);
  const plan = planDeploy(loaded.config, environment, { tag: 'unknown' });
  const deps = createDeps(loaded, new AbortController().signal);
  const dir = lockDir(loaded.config.project, environment);
  const outcomes = await onEveryHost(plan, deps, async (connection, { address }) => {
    const exec = connection.exec.bind(connection);
    const lock = await readLock(exec, dir);
    if (args.action === 'status') {
      return `${address.id}: ${lock ? `locked by ${describeLock(lock)}${isExpired(lock, new Date()) ? ' (expired: the next deploy takes it over)' : ''}` : 'free'}`;
    }
    if (!lock) return `${address.id}: no lock`;
    await releaseLock(exec, dir, 'force');
    return `${address.id}: released the lock of ${lock.holder.user} on ${lock.holder.machine}`;
  });
  const lines = outcomes.map((o) => ({ ok: o.ok, line: o.ok ? o.value : `${o.host.address.id}: unreachable: ${o.error}` }));
  process.stdout.write(`${lines.map((l) => l.line).join('\n')}\n`);
  return lines.every((l) => l.ok) ? 0 : 1;
}
