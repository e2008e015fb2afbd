import { findEnvironment } from '../core/resolve.js';
import { describeLock } from '../deploy/lock.js';
import type { ServiceStatus } from '../deploy/target.js';
import { type CommonArgs, createDeps, load } from './commands.js';
import { onEveryMember } from './members.js';

interface StatusArgs extends CommonArgs {
  environment: string;
}

/** `pipeline status ENV`: per host and service, what runs (tag, digest, commit), since when, its health, and who deployed it. */
export async function statusCommand(args: StatusArgs): Promise<number> {
  const loaded = await load(args);
  const environment = findEnvironment(loaded.config, args.environment);
  const target = createDeps(loaded, new AbortController().signal).targets.get(environment);
  const outcomes = await onEveryMember(target, async (member) => {
    const [lock, services] = await Promise.all([target.readLock(member.id), target.status(member.id)]);
    return [
      `  ${member.id} [${member.roles.join(', ')}]${lock ? ` — locked by ${describeLock(lock)}` : ''}`,
      ...services.map((svc) => `    ${statusLine(svc)}`),
    ];
  });
  const lines = [environment, ...outcomes.flatMap((o) => (o.ok ? o.value : [`  ${o.member.id}: unreachable: ${o.error}`]))];
  process.stdout.write(`${lines.join('\n')}\n`);
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

export function statusLine(svc: ServiceStatus): string {
  if (!svc.deployed) return `${svc.service.padEnd(10)} not deployed`;
  return [
    svc.service.padEnd(10),
    svc.tag ?? '',
    svc.digest ? svc.digest.slice(0, 19) : 'no digest',
    svc.replicas ? `${svc.replicas.running}/${svc.replicas.desired} running` : '',
    svc.nodes?.length ? `on ${svc.nodes.join(', ')}` : '',
    svc.commit ? `commit ${svc.commit.slice(0, 12)}` : '',
    svc.since ? `since ${svc.since}` : '',
    svc.health ?? '',
    svc.deployedBy ? `deployed by ${svc.deployedBy}` : '',
    svc.kept ? `${svc.kept} kept for rollback` : '',
  ]
    .filter(Boolean)
    .join('  ');
}
