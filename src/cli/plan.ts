import { readCommit } from '../adapters/git.js';
import type { PipelineConfig } from '../config/schema.js';
import { describeChange } from '../core/changes.js';
import { detectCi } from '../core/ci.js';
import type { DeployPlan } from '../core/plan.js';
import { planDeploy, runsRelease, serviceImage } from '../core/plan.js';
import { cutoverNote } from '../core/proxy.js';
import type { Release } from '../core/release.js';
import { findEnvironment, resolveEnvironments } from '../core/resolve.js';
import { planSwarm, type SwarmPlan } from '../core/swarm-spec.js';
import type { MemberChanges } from '../deploy/target.js';
import { describeRevision } from '../stages/checkout.js';
import { resolveTargets } from '../stages/resolve.js';
import { createDeps, load, type RevisionArgs } from './commands.js';
import { memberHeading, onEveryMember } from './members.js';

interface PlanArgs extends RevisionArgs {
  offline?: boolean;
}

/**
 * `pipeline plan`: the commit, its branch tag, the environments it deploys to and, per host, what would
 * change — the deploy's own change planner over each host's live state, without changing anything.
 * An unreachable host is shown as such and makes the exit code 1.
 */
export async function planCommand(args: PlanArgs): Promise<number> {
  const loaded = await load(args);
  const { config } = loaded;
  const commit = await readCommit(args.cwd, args.ref);
  const revision = describeRevision(commit, args, detectCi(process.env));
  const options = { cwd: args.cwd, only: [], skip: [], env: args.env, dockerTag: args.dockerTag };
  const lines = [
    `commit      ${commit.sha}${revision.branch ? ` (${revision.branch})` : ''}${revision.tags.length ? `, tags: ${revision.tags.join(', ')}` : ''}`,
    `branch tag  ${revision.branchTag}`,
    `image       ${config.image}:${revision.branchTag}`,
  ];
  const environments = args.env !== undefined ? [findEnvironment(config, args.env)] : resolveEnvironments(config, revision);
  if (environments.length === 0) lines.push(`deploy      nothing is deployed for branch ${revision.branch ?? revision.branchTag}`);
  const deps = createDeps(loaded, new AbortController().signal);
  let reachable = true;
  for (const environment of environments) {
    const { release } = resolveTargets({ config, options: { ...options, env: environment }, ...revision, pushed: [], commit });
    lines.push(`deploy      ${release!.tag} → ${environment}`);
    if (config.release) {
      const member = deps.targets.get(environment).releaseMember?.(config.release.service)?.id;
      lines.push(releaseLine(config.release, member && config.environments[environment]!.swarm ? `${member} (the swarm manager)` : member));
    }
    if (args.offline) {
      lines.push(
        ...(config.environments[environment]!.swarm
          ? swarmOfflineLines(planSwarm(config, environment), release!)
          : offlineLines(planDeploy(config, environment), release!)),
      );
      continue;
    }
    const outcomes = await onEveryMember(deps.targets.get(environment), (member) =>
      deps.targets.get(environment).changes(member.id, release!),
    );
    for (const outcome of outcomes) {
      lines.push(memberHeading(outcome));
      if (outcome.ok) lines.push(...changeLines(outcome.value, release!).map((line) => `    ${line}`));
      reachable &&= outcome.ok;
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return reachable ? 0 : 1;
}

/** Where and what the release command runs before the switch (a swarm: on its manager, in a one-off container). */
function releaseLine(command: NonNullable<PipelineConfig['release']>, member: string | undefined): string {
  return `release     ${command.command.join(' ')} on ${member ?? `no host (no host runs ${command.service})`}, as ${command.service}, before the switch`;
}

function offlineLines(plan: DeployPlan, release: Release): string[] {
  return plan.hosts.flatMap((host) => [
    `  ${host.address.id} [${host.roles.join(', ')}]`,
    ...host.services.map(
      (svc) => `    ${svc.service.padEnd(12)} ${serviceImage(svc, release)}${svc.redeploy ? '' : ' (started only when not running)'}`,
    ),
  ]);
}

function swarmOfflineLines(plan: SwarmPlan, release: Release): string[] {
  return [
    `  ${plan.manager.id} [swarm manager]`,
    ...plan.services.map(
      (svc) =>
        `    ${svc.service.padEnd(12)} ${serviceImage(svc, release)}: ${svc.redeploy ? `${svc.replicas} task(s)` : 'a task on every node'} of role ${svc.roles.join(' or ')}${svc.redeploy ? '' : ' (started only when not running)'}`,
    ),
  ];
}

/** A line per service: what the deploy would do to it (and how a replaced one is cut over); the host's proxy first. */
export function changeLines({ services, changes, digest, proxy }: MemberChanges, release: Release): string[] {
  const lines = changes.map((change) => {
    const svc = services.find((s) => s.service === change.service);
    const own = svc === undefined || runsRelease(svc);
    const target = own ? `${release.tag}${digest ? ` (${digest.slice(0, 19)})` : ''}` : svc.image!;
    const note = svc && change.action === 'replace' ? cutoverNote(svc) : undefined;
    return `${change.service.padEnd(12)} ${describeChange(change, svc?.redeploy ?? true, target)}${note ? `: ${note}` : ''}`;
  });
  return proxy ? [`${'(proxy)'.padEnd(12)} ${proxy}`, ...lines] : lines;
}
