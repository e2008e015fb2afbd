import type Docker from 'dockerode';
import { healthNow } from '../adapters/health.js';
import { findContainer, keptContainers } from '../adapters/service.js';
import { describeLock, lockDir, readLock } from '../deploy/lock.js';
import { LABEL_PREFIX, planDeploy, type ServicePlan } from '../core/plan.js';
import { findEnvironment } from '../core/resolve.js';
import type { PipelineConfig } from '../config/schema.js';
import type { DeployConnection } from '../runner/context.js';
import { createDeps, load, type CommonArgs } from './commands.js';
import { onEveryHost } from './hosts.js';

interface StatusArgs extends CommonArgs { environment: string }

/** `pipeline status ENV`: per host and service, what runs (tag, digest, commit), since when, its health, and who deployed it. */
export async function statusCommand(args: StatusArgs): Promise<number> {
  const loaded = await load(args);
  const environment = findEnvironment(loaded.config, args.environment);
  const plan = planDeploy(loaded.config, environment, { tag: 'unknown' });
  const deps = createDeps(loaded, new AbortController().signal);
  const outcomes = await onEveryHost(plan, deps, async (connection, host) => {
    const lock = await readLock(connection.exec.bind(connection), lockDir(loaded.config.project, environment));
    const lines = [`  ${host.address.id} [${host.roles.join(', ')}]${lock ? ` — locked by ${describeLock(lock)}` : ''}`];
    for (const svc of host.services) lines.push(`    ${await serviceStatus(connection, svc, loaded.config)}`);
    return lines;
  });
  const lines = [environment, ...outcomes.flatMap((o) => (o.ok ? o.value : [`  ${o.host.address.id}: unreachable: ${o.error}`]))];
  process.stdout.write(`${lines.join('\n')}\n`);
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

async function serviceStatus(connection: DeployConnection, svc: ServicePlan, config: PipelineConfig): Promise<string> {
  const { docker } = connection;
  const info = await findContainer(docker, svc.container);
  if (!info) return `${svc.service.padEnd(10)} not deployed`;
  const label = (name: string) => info.Config.Labels?.[`${LABEL_PREFIX}${name}`];
  const digest = label('digest') ?? (await repoDigest(docker, info.Image));
  const kept = svc.redeploy ? (await keptContainers(docker, config.project, svc.service, svc.container)).length : 0;
  const health = await healthNow(docker, docker.getContainer(info.Id), svc, (host, port) => connection.openTcp(host, port));
  return [
    svc.service.padEnd(10),
    `${label('tag') ?? info.Config.Image}`,
    digest ? digest.slice(0, 19) : 'no digest',
    label('commit') ? `commit ${label('commit')!.slice(0, 12)}` : '',
    `since ${info.State.StartedAt.replace(/\.\d+Z$/, 'Z')}`,
    health,
    label('deployed-by') ? `deployed by ${label('deployed-by')}` : '',
    kept ? `${kept} kept for rollback` : '',
  ].filter(Boolean).join('  ');
}

async function repoDigest(docker: Docker, imageId: string): Promise<string | undefined> {
  const image = await docker.getImage(imageId).inspect().catch(() => undefined);
  return image?.RepoDigests?.[0]?.split('@')[1];
}
