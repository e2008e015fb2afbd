import { renewalOverdue } from '../core/lease.js';
import { describePending, type PendingDeploy } from '../core/leftovers.js';
import { findEnvironment } from '../core/resolve.js';
import { describeLock, isExpired, type LockInfo } from '../deploy/lock.js';
import type { ServiceStatus } from '../deploy/target.js';
import { type CommonArgs, createDeps, load } from './commands.js';
import { onEveryMember } from './members.js';

interface StatusArgs extends CommonArgs {
  environment: string;
}

/**
 * `pipeline status ENV`: per host and service, what runs (tag, digest, commit), since when, its health, and who
 * deployed it; and a deploy that died on a host before it was verified (its pending record is still there).
 */
export async function statusCommand(args: StatusArgs): Promise<number> {
  const loaded = await load(args);
  const environment = findEnvironment(loaded.config, args.environment);
  const target = createDeps(loaded, new AbortController().signal).targets.get(environment);
  const outcomes = await onEveryMember(target, async (member) => {
    const [lock, services, pending] = await Promise.all([
      target.readLock(member.id),
      target.status(member.id),
      target.pending?.(member.id),
    ]);
    const interrupted = pending && !deployRunning(lock, loaded.config.lockTtl) ? pending : undefined;
    const lines = [`  ${member.id} [${member.roles.join(', ')}]${lock ? ` — locked by ${describeLock(lock)}` : ''}`];
    if (pending)
      lines.push(
        `    ${interrupted ? 'interrupted' : 'switching'}: the deploy of ${describePending(pending)}, ${interrupted ? 'stopped before it was verified' : 'is not verified yet'}`,
      );
    return { lines: [...lines, ...services.map((svc) => `    ${statusLine(svc)}`)], interrupted };
  });
  const lines = [environment, ...outcomes.flatMap((o) => (o.ok ? o.value.lines : [`  ${o.member.id}: unreachable: ${o.error}`]))];
  const interrupted = outcomes.flatMap((o) => (o.ok && o.value.interrupted ? [o.value.interrupted] : []));
  if (interrupted.length > 0) lines.push(interruptedLine(environment, interrupted));
  process.stdout.write(`${lines.join('\n')}\n`);
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

/** A lock still renewed: the deploy that wrote a pending record may still be switching. */
function deployRunning(lock: LockInfo | undefined, ttlMs: number): boolean {
  const now = new Date();
  return lock !== undefined && !isExpired(lock, now) && !renewalOverdue(Date.parse(lock.expiresAt), ttlMs, now.getTime());
}

function interruptedLine(environment: string, records: PendingDeploy[]): string {
  const newest = records.reduce((a, b) => (a.startedAt >= b.startedAt ? a : b));
  return (
    `${environment}: the last deploy (${describePending(newest)}) stopped before it was verified on ${records.length} host(s); ` +
    'the next deploy removes what it left and starts from the release it was replacing'
  );
}

export function statusLine(svc: ServiceStatus): string {
  const leftovers = svc.leftovers ? `${svc.leftovers} left by an interrupted deploy` : '';
  if (!svc.deployed) return [`${svc.service.padEnd(10)} not deployed`, leftovers].filter(Boolean).join('  ');
  return [
    svc.service.padEnd(10),
    svc.tag ?? '',
    svc.digest ? svc.digest.slice(0, 19) : 'no digest',
    svc.replicas ? `${svc.replicas.running}/${svc.replicas.desired} running` : '',
    svc.nodes?.length ? `on ${svc.nodes.join(', ')}` : '',
    svc.commit ? `commit ${svc.commit.slice(0, 12)}` : '',
    svc.since ? `since ${svc.since}` : '',
    svc.health ?? '',
    svc.unverified ? 'UNVERIFIED' : '',
    svc.deployedBy ? `deployed by ${svc.deployedBy}` : '',
    svc.kept ? `${svc.kept} kept for rollback` : '',
    svc.proxy ?? '',
    leftovers,
  ]
    .filter(Boolean)
    .join('  ');
}
