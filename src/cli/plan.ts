import type Docker from 'dockerode';
import { authFor } from '../adapters/docker.js';
import { readCommit } from '../adapters/git.js';
import { findContainer } from '../adapters/service.js';
import type { PipelineConfig } from '../config/schema.js';
import { detectCi } from '../core/ci.js';
import { LABEL_PREFIX, planDeploy, type DeployPlan, type HostPlan, type ServicePlan } from '../core/plan.js';
import { deployTagFor, findEnvironment, resolveEnvironments } from '../core/resolve.js';
import type { DeployConnection } from '../runner/context.js';
import { describeRevision } from '../stages/checkout.js';
import { createDeps, load, type RevisionArgs } from './commands.js';
import { onEveryHost } from './hosts.js';

interface PlanArgs extends RevisionArgs { offline?: boolean }

/**
 * `pipeline plan`: the commit, its branch tag, the environments it deploys to and,
 * per host, what would change — read from each host's live state, without
 * changing anything. An unreachable host is shown as such and makes the exit code 1.
 */
export async function planCommand(args: PlanArgs): Promise<number> {
  const loaded = await load(args);
  const { config } = loaded;
  const commit = await readCommit(args.cwd, args.ref);
  const revision = describeRevision(commit, args, detectCi(process.env));
  const environments = args.env !== undefined ? [findEnvironment(config, args.env)] : resolveEnvironments(config, revision);
  const lines = [
    `commit      ${commit.sha}${revision.branch ? ` (${revision.branch})` : ''}${revision.tags.length ? `, tags: ${revision.tags.join(', ')}` : ''}`,
    `branch tag  ${revision.branchTag}`,
    `image       ${config.image}:${revision.branchTag}`,
  ];
  if (environments.length === 0) lines.push(`deploy      nothing is deployed for branch ${revision.branch ?? revision.branchTag}`);
  const deps = createDeps(loaded, new AbortController().signal);
  let reachable = true;
  for (const environment of environments) {
    const plan = planDeploy(config, environment, { tag: deployTagFor(config, environment, args.dockerTag, revision.branchTag), commit: commit.sha });
    lines.push(`deploy      ${plan.tag} → ${environment}`);
    if (args.offline) {
      lines.push(...offlineLines(plan));
      continue;
    }
    const outcomes = await onEveryHost(plan, deps, (connection, host) => hostChanges(connection, host, plan, config));
    for (const outcome of outcomes) {
      lines.push(`  ${outcome.host.address.id} [${outcome.host.roles.join(', ')}]${outcome.ok ? '' : `: unreachable: ${outcome.error}`}`);
      if (outcome.ok) lines.push(...outcome.value.map((line) => `    ${line}`));
      reachable &&= outcome.ok;
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return reachable ? 0 : 1;
}

function offlineLines(plan: DeployPlan): string[] {
  return plan.hosts.flatMap((host) => [
    `  ${host.address.id} [${host.roles.join(', ')}]`,
    ...host.services.map((svc) => `    ${svc.service.padEnd(12)} ${svc.image}${svc.redeploy ? '' : ' (started only when not running)'}`),
  ]);
}

/** What a deploy would do to each service of a host, from what runs there now. */
async function hostChanges(connection: DeployConnection, host: HostPlan, plan: DeployPlan, config: PipelineConfig): Promise<string[]> {
  const { docker } = connection;
  const next = await releaseDigest(docker, host, plan, config);
  return Promise.all(host.services.map(async (svc) => {
    const current = await findContainer(docker, svc.container);
    const running = Boolean(current?.State.Running);
    const now = current ? `${current.Config.Labels?.[`${LABEL_PREFIX}tag`] ?? current.Config.Image}${digestOf(current)}` : '';
    const target = `${svc.ownImage ? plan.tag : svc.image}${svc.ownImage && next ? ` (${next.slice(0, 19)})` : ''}`;
    return `${svc.service.padEnd(12)} ${change(svc, current, running, now, target)}`;
  }));
}

function change(svc: ServicePlan, current: Docker.ContainerInspectInfo | undefined, running: boolean, now: string, target: string): string {
  if (!svc.redeploy) return running ? `left alone: ${now} is running` : `start ${target} (not running)`;
  if (!current) return `start ${target} (not deployed yet)`;
  return `replace ${now}${running ? '' : ' (stopped)'} → ${target}`;
}

function digestOf(container: Docker.ContainerInspectInfo): string {
  const digest = container.Config.Labels?.[`${LABEL_PREFIX}digest`];
  return digest ? ` (${digest.slice(0, 19)})` : '';
}

/** The digest the tag resolves to from this host (read-only: the Engine asks the registry, nothing is pulled). */
async function releaseDigest(docker: Docker, host: HostPlan, plan: DeployPlan, config: PipelineConfig): Promise<string | undefined> {
  if (host.address.kind === 'local' || !host.services.some((svc) => svc.ownImage)) return undefined;
  const ref = `${config.image}:${plan.tag}`;
  const info = await (docker.getImage(ref).distribution({ authconfig: authFor(ref, config.registry) } as never) as unknown as Promise<Docker.ImageDistributionInfo>)
    .catch((error: Error) => { throw new Error(`cannot resolve ${ref}: ${error.message}`); });
  return info.Descriptor.digest;
}
