import type { ListrTask, ListrTaskWrapper } from 'listr2';
import { EnvironmentSession, lockHolder } from '../deploy/environment.js';
import { HostRelease, type Release } from '../deploy/host.js';
import { planDeploy, publishedPort, type DeployPlan, type HostPlan } from '../core/plan.js';
import { HostError, StageError } from '../errors.js';
import { stageEnabled, type Deps, type RunContext } from '../runner/context.js';
import { resolveTargets } from './resolve.js';

/**
 * Deploys the tag to each resolved environment: preflight every host, take the
 * lock, pull everywhere, then switch hosts in parallel (health-checked, and
 * rolled back everywhere if any host fails), verify the digests, unlock.
 */
export function deployStage(deps: Deps): ListrTask<RunContext> {
  return {
    title: 'deploy',
    enabled: (ctx) => stageEnabled(ctx.options, 'deploy'),
    skip: (ctx) => (ctx.environments.length === 0 ? `nothing is deployed for branch ${ctx.branch ?? ctx.branchTag}` : false),
    task: (ctx, task) => {
      const rollback = ctx.options.rollback;
      task.title = rollback
        ? `rollback: ${ctx.environments.join(', ')} to ${rollback.to ?? 'the previous release'}`
        : `deploy: ${ctx.deployTag} → ${ctx.environments.join(', ')}`;
      return task.newListr(ctx.environments.map((environment) => environmentTask(ctx, deps, environment)), { exitOnError: true });
    },
  };
}

type Task = ListrTaskWrapper<RunContext, never, never>;

function environmentTask(ctx: RunContext, deps: Deps, environment: string): ListrTask<RunContext> {
  return {
    title: environment,
    task: (_ctx, envTask) => {
      const rollback = ctx.options.rollback;
      const session = openSession(ctx, deps, environment);
      const { plan } = session;
      const ref = `${ctx.config.image}:${plan.tag}`;
      const release: Release = { tag: plan.tag, ref, digest: ctx.pushed.find((pushed) => pushed.ref === ref)?.digest };
      const pushed = release.digest !== undefined;
      const hosts = new Map<string, HostRelease>();
      const logs = new Map<string, (line: string) => void>();
      const hostRelease = (id: string) => hosts.get(id)!;
      const holder = lockHolder(ctx.ci, deps.env);
      envTask.title = rollback ? `${environment}: ${plan.hosts.length} host(s)` : `${environment}: ${plan.tag} to ${plan.hosts.length} host(s)`;

      /** A phase run on every host in parallel; failures are collected for the check after it. */
      const phase = (title: string, work: (host: HostPlan, task: Task) => Promise<void>, only = () => [...plan.hosts]) => {
        const failures: string[] = [];
        const state = { failures, title: (_text: string) => {} };
        const task: ListrTask<RunContext> = {
          title,
          task: (_c, phaseTask) => {
            if (deps.signal.aborted) throw new StageError('stopped by a signal');
            state.title = (text) => { phaseTask.title = text; };
            return phaseTask.newListr(only().map((host) => ({
              title: host.address.id,
              task: async (_h, hostTask) => {
                logs.set(host.address.id, (line) => { hostTask.output = deps.mask(`${host.address.id}: ${line}`); });
                try {
                  await work(host, hostTask as Task);
                } catch (error) {
                  ctx.failedHost ??= host.address.id;
                  failures.push(`${host.address.id}: ${error instanceof HostError ? error.reason : (error as Error).message}`);
                  throw error;
                }
              },
            })), { concurrent: ctx.config.parallel, exitOnError: false });
          },
        };
        return { task, state };
      };
      /**
       * Failed hosts do not fail their parent list (exitOnError: false), so each phase is
       * followed by an untitled check that fails the deploy, or says on the phase that all went well.
       */
      const check = (what: string, phaseState: { failures: string[]; title: (text: string) => void }, onFailure?: () => Promise<string>): ListrTask<RunContext> => ({
        task: async () => {
          const { failures } = phaseState;
          if (failures.length > 0) {
            const after = onFailure ? await onFailure() : '';
            throw new StageError(deps.mask(`${what} failed on ${failures.length} host(s): ${failures.join('; ')}${after}`));
          }
          phaseState.title(`${what}: ${plan.hosts.length} host(s) ok`);
        },
      });
      const rollbackAll = async () => {
        const outcomes = await Promise.all([...hosts.values()].map((host) => host.rollback().then(() => undefined, (error: Error) =>
          `${host.id} (${error instanceof HostError ? error.reason.replace(/^.*: /, '') : error.message})`)));
        const failed = outcomes.filter(Boolean);
        return failed.length === 0 ? '; every host is back on its previous release' : `; could not roll back ${failed.join(', ')}: check it with pipeline status ${environment}`;
      };

      const preflight = phase('preflight', async (host, task) => {
        const connection = await session.connect(host.address.id);
        const hostRelease = new HostRelease(host, connection, {
          config: ctx.config,
          release,
          deployedBy: `${holder.user}@${holder.machine}`,
          secretEnv: (svc) => Object.fromEntries(svc.secrets.map((name) => [name, deps.env[name] ?? ''])),
          log: (line) => logs.get(host.address.id)?.(line),
          signal: deps.signal,
        });
        hosts.set(host.address.id, hostRelease);
        // The digest is pinned once: from the push just done, else from the registry as the first host sees it.
        const digest = await hostRelease.preflight({ resolveDigest: !rollback && !pushed });
        release.digest ??= digest;
        task.title = `${host.address.id}: ready${release.digest ? ` (${release.digest.slice(0, 19)})` : ''}`;
      });
      const pull = phase('pull', async (host) => { await hostRelease(host.address.id).pull(); });
      /** The switch (or, for a rollback, the switch back), its host's title saying what each service did. */
      const switching = (title: string, act: (host: HostRelease) => Promise<void>) => phase(title, async (host, task) => {
        const target = hostRelease(host.address.id);
        await act(target);
        task.title = `${host.address.id}: ${target.results.map((r) => `${r.service} ${r.action}`).join(', ')}`;
      });
      const switchHosts = switching('switch', (host) => host.switch());
      const switchBack = switching('rollback', (host) => host.switchBack(rollback?.to));
      const verify = phase('verify', async (host) => { await hostRelease(host.address.id).verify(); });
      const lock: ListrTask<RunContext> = {
        title: 'lock',
        task: async (_c, lockTask) => {
          const { tookOver } = await session.acquire({ holder, tag: rollback ? undefined : plan.tag, commit: ctx.commit?.sha });
          lockTask.title = `lock: ${environment} locked on ${plan.hosts.length} host(s)`;
          if (tookOver.length > 0) lockTask.output = `took over an expired lock of ${tookOver[0]!.holder.user} on ${tookOver[0]!.holder.machine}`;
        },
      };
      const unlock: ListrTask<RunContext> = {
        title: 'unlock',
        task: async (_c, unlockTask) => {
          await Promise.allSettled([...hosts.values()].map((host) => (rollback ? host.discardReplaced() : host.prune(ctx.config.keepReleases))));
          record(ctx, plan, hosts);
          deps.cleanups.delete(session.release);
          await session.release();
          unlockTask.title = `unlock: ${environment} released`;
        },
      };

      if (rollback) {
        return envTask.newListr([
          preflight.task, check('preflight', preflight.state), lock,
          switchBack.task, check('rollback', switchBack.state, rollbackAll), unlock,
        ], { exitOnError: true });
      }
      return envTask.newListr([
        preflight.task,
        check('preflight', preflight.state),
        lock,
        pull.task,
        check('pull', pull.state),
        switchHosts.task,
        check('switch', switchHosts.state, rollbackAll),
        verify.task,
        check('verify', verify.state, rollbackAll),
        unlock,
      ], { exitOnError: true });
    },
  };
}

/**
 * Starts connecting to the hosts a run will deploy to, and checking their
 * engines, as soon as checkout has said where it deploys: the connections are
 * ready when build, test and push are done. Nothing on the hosts is changed or
 * locked until the deploy stage starts.
 */
export function prepareDeploy(ctx: RunContext, deps: Deps): void {
  let targets: ReturnType<typeof resolveTargets>;
  try {
    targets = resolveTargets(ctx);
  } catch {
    return; // the resolve stage reports it
  }
  for (const environment of targets.environments) {
    const session = newSession(ctx, deps, environment, targets.deployTag!);
    ctx.sessions.set(environment, session);
    session.prepare();
  }
}

/** The environment's session: the one prepared while the run built and tested, else a new one. */
function openSession(ctx: RunContext, deps: Deps, environment: string): EnvironmentSession {
  return ctx.sessions.get(environment) ?? newSession(ctx, deps, environment, ctx.deployTag ?? 'rollback');
}

/** A session for deploying the tag, released by the run's clean-ups whatever happens. */
function newSession(ctx: RunContext, deps: Deps, environment: string, tag: string): EnvironmentSession {
  const session = new EnvironmentSession(planDeploy(ctx.config, environment, { tag, commit: ctx.commit?.sha }), ctx.config, deps);
  deps.cleanups.add(session.release);
  return session;
}

function record(ctx: RunContext, plan: DeployPlan, hosts: Map<string, HostRelease>): void {
  for (const host of plan.hosts) {
    ctx.deployments.push({ environment: plan.environment, host: host.address.id, services: hosts.get(host.address.id)!.results });
    for (const service of host.services) {
      const url = serviceUrl(host, service);
      if (url) ctx.urls.push({ environment: plan.environment, host: host.address.id, service: service.service, url });
    }
  }
}

/** Where people reach a service that publishes its health check port (or its first port). */
function serviceUrl(host: HostPlan, service: HostPlan['services'][number]): string | undefined {
  const containerPort = service.healthcheck?.http?.port ?? Number(service.ports[0]?.split('/')[0]!.split(':').at(-1));
  const port = publishedPort(service.ports, containerPort);
  if (!port) return undefined;
  const address = host.address.kind === 'local' ? '127.0.0.1' : host.address.host.includes(':') ? `[${host.address.host}]` : host.address.host;
  return `http://${address}:${port}${service.healthcheck?.http?.path ?? '/'}`;
}
