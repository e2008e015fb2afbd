import type { ListrTask } from 'listr2';
import { authFor } from '../adapters/docker.js';
import { deployService } from '../adapters/service.js';
import { planDeploy, publishedPort, type HostPlan } from '../core/plan.js';
import { StageError } from '../errors.js';
import { stageEnabled, type Deps, type RunContext } from '../runner/context.js';

/** Deploys the tag to every host of each resolved environment, hosts in parallel. */
export function deployStage(deps: Deps): ListrTask<RunContext> {
  return {
    title: 'deploy',
    enabled: (ctx) => stageEnabled(ctx.options, 'deploy'),
    skip: (ctx) => (ctx.environments.length === 0 ? `nothing is deployed for branch ${ctx.branch ?? ctx.branchTag}` : false),
    task: (ctx, task) => {
      const failures: string[] = [];
      const environmentTasks: ListrTask<RunContext>[] = ctx.environments.map((environment) => {
        const plan = planDeploy(ctx.config, environment, { tag: ctx.deployTag!, commit: ctx.commit?.sha });
        return {
          title: `${environment}: ${plan.tag} to ${plan.hosts.length} host(s)`,
          task: (_ctx, envTask) => envTask.newListr(plan.hosts.map((host) => ({
            title: `${host.address.id} (${host.services.map((svc) => svc.service).join(', ')})`,
            task: async (_c, hostTask) => {
              try {
                await deployHost(ctx, deps, environment, host, (line) => { hostTask.output = deps.mask(`${host.address.id}: ${line}`); });
              } catch (error) {
                failures.push(`${host.address.id}: ${(error as Error).message}`);
                throw error;
              }
            },
          })), { concurrent: ctx.config.parallel, exitOnError: false }),
        };
      });
      // Failed hosts do not fail their parent list (exitOnError: false), so the stage checks them itself.
      const verdict: ListrTask<RunContext> = {
        title: 'verify',
        task: (_ctx, verifyTask) => {
          if (failures.length > 0) throw new StageError(`deploy failed on ${failures.length} host(s): ${deps.mask(failures.join('; '))}`);
          verifyTask.title = `deployed ${ctx.deployTag} to ${ctx.environments.join(', ')}`;
        },
      };
      task.title = `deploy: ${ctx.deployTag} → ${ctx.environments.join(', ')}`;
      return task.newListr([...environmentTasks, verdict], { concurrent: false, exitOnError: true });
    },
  };
}

async function deployHost(ctx: RunContext, deps: Deps, environment: string, host: HostPlan, log: (line: string) => void): Promise<void> {
  const connection = await deps.connect(host.address);
  try {
    const results = [];
    for (const service of host.services) {
      const secretEnv = Object.fromEntries(service.secrets.map((name) => [name, deps.env[name] ?? '']));
      results.push(await deployService(connection.docker, service, {
        auth: authFor(service.image, ctx.config.registry),
        secretEnv,
        pull: host.address.kind === 'local' ? 'missing' : 'always',
        openTcp: (address, port) => connection.openTcp(address, port),
        log,
      }));
      const url = serviceUrl(host, service);
      if (url) ctx.urls.push({ environment, host: host.address.id, service: service.service, url });
    }
    ctx.deployments.push({ environment, host: host.address.id, services: results });
  } finally {
    await connection.close();
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
