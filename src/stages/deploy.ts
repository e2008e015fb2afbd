import { randomUUID } from 'node:crypto';
import type { ListrTask } from 'listr2';
import { lockWaitMs } from '../core/lease.js';
import { EnvironmentDeploy } from '../deploy/environment.js';
import { lockHolder } from '../deploy/lock.js';
import { type Deps, type RunContext, stageEnabled } from '../runner/context.js';

/**
 * Deploys the release to each resolved environment: preflight every host, take the lock, pull everywhere,
 * then switch hosts in parallel (health-checked, and rolled back everywhere if any host fails), verify, unlock.
 */
export function deployStage(deps: Deps): ListrTask<RunContext> {
  return {
    title: 'deploy',
    enabled: (ctx) => stageEnabled(ctx.options, 'deploy'),
    skip: (ctx) => (ctx.environments.length === 0 ? `nothing is deployed for branch ${ctx.branch ?? ctx.branchTag}` : false),
    task: (ctx, task) => {
      const { rollback } = ctx.options;
      task.title = rollback
        ? `rollback: ${ctx.environments.join(', ')} to ${rollback.to ?? 'the previous release'}`
        : `deploy: ${ctx.release!.tag} → ${ctx.environments.join(', ')}`;
      return task.newListr(
        ctx.environments.map((environment) => environmentTask(ctx, deps, environment)),
        { exitOnError: true },
      );
    },
  };
}

function environmentTask(ctx: RunContext, deps: Deps, environment: string): ListrTask<RunContext> {
  return {
    title: environment,
    task: (_ctx, task) => {
      const target = deps.targets.get(environment);
      const { release } = ctx;
      const releaseCommand = ctx.config.release;
      const holder = lockHolder(ctx.ci, deps.env);
      const deploy = new EnvironmentDeploy({
        target,
        job: {
          id: randomUUID(),
          release,
          rollbackTo: ctx.options.rollback?.to,
          deployedBy: `${holder.user}@${holder.machine}`,
          secretEnv: (secrets) => Object.fromEntries(Object.entries(secrets).map(([name, variable]) => [name, deps.env[variable] ?? ''])),
          signal: deps.signal,
        },
        lock: { holder, tag: release?.tag, commit: ctx.commit?.sha },
        lockWaitMs: lockWaitMs(ctx.options.lockWait, ctx.ci),
        resolveDigest: release !== undefined && release.digest === undefined,
        ...(releaseCommand
          ? { releaseCommand: { service: releaseCommand.service, command: releaseCommand.command, timeoutMs: releaseCommand.timeout } }
          : {}),
        ...(ctx.options.skipRelease && releaseCommand ? { skipRelease: '--skip-release: the release command was not run' } : {}),
        concurrency: ctx.config.parallel,
        batch: ctx.config.rollout?.batch,
        mask: deps.mask,
        onFailure: (id) => {
          ctx.failedHost ??= id;
        },
        onDeployed: (deployments, urls) => {
          ctx.deployments.push(...deployments.map((d) => ({ environment, host: d.host, services: [...d.services] })));
          ctx.urls.push(...urls.map((url) => ({ environment, ...url })));
        },
      });
      task.title = release
        ? `${environment}: ${release.tag} to ${target.members.length} host(s)`
        : `${environment}: ${target.members.length} host(s)`;
      return task.newListr(deploy.tasks(), { exitOnError: true });
    },
  };
}
