import type Docker from 'dockerode';
import { StageError } from '../errors.js';
import type { ServicePlan } from '../core/plan.js';
import { engineMessage, pullImage, type RegistryAuth } from './docker.js';
import { waitHealthy, type OpenTcp } from './health.js';

export type ServiceAction = 'started' | 'replaced' | 'left running';

export interface ServiceResult { service: string; container: string; image: string; action: ServiceAction; containerId?: string }

export interface ServiceDeployOptions {
  auth?: RegistryAuth;
  /** Values of the service's secret variables. */
  secretEnv: Record<string, string>;
  /** 'always' on remote hosts (the tag may have moved); 'missing' on the runner's engine, which built the image. */
  pull: 'always' | 'missing';
  log: (line: string) => void;
  openTcp: OpenTcp;
  sleep?: (ms: number) => Promise<void>;
}

/** Inspect a container by name; undefined when there is none. */
export async function findContainer(docker: Docker, name: string): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await docker.getContainer(name).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

/**
 * The documented restart of one service on one host: pull the image, kill the
 * old container, start the new one. A `redeploy: false` service (logstash) is
 * only started when it is not running.
 */
export async function deployService(docker: Docker, plan: ServicePlan, options: ServiceDeployOptions): Promise<ServiceResult> {
  const { log } = options;
  const existing = await findContainer(docker, plan.container);
  const result = { service: plan.service, container: plan.container, image: plan.image };
  if (!plan.redeploy && existing?.State.Running) {
    log(`${plan.service}: already running (${existing.Config.Image}), left alone`);
    return { ...result, action: 'left running', containerId: existing.Id };
  }
  if (options.pull === 'always' || !(await imageExists(docker, plan.image))) {
    log(`${plan.service}: pulling ${plan.image}`);
    await pullImage(docker, plan.image, options.auth, (line) => log(`${plan.service}: ${line}`));
  }
  if (existing) {
    log(`${plan.service}: stopping ${plan.container} (${existing.Config.Image})`);
    await removeContainer(docker, plan.container, plan.stopGraceMs);
  }
  const container = await docker.createContainer(containerSpec(plan, options.secretEnv)).catch((error) => {
    throw new StageError(`${plan.service}: cannot create container: ${engineMessage(error)}`);
  });
  await container.start().catch(async (error) => {
    await container.remove({ force: true }).catch(() => undefined);
    throw new StageError(`${plan.service}: cannot start container: ${engineMessage(error)}`);
  });
  log(`${plan.service}: started ${plan.container} (${plan.image}), waiting until healthy`);
  await waitHealthy(docker, container, plan, { openTcp: options.openTcp, log, sleep: options.sleep ?? delay });
  log(`${plan.service}: healthy`);
  return { ...result, action: existing ? 'replaced' : 'started', containerId: container.id };
}

/** The Engine API body for a service's container. */
export function containerSpec(plan: ServicePlan, secretEnv: Record<string, string>): Docker.ContainerCreateOptions {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostPort: string }[]> = {};
  for (const entry of plan.ports) {
    const [mapping, protocol = 'tcp'] = entry.split('/');
    const [host, container] = mapping!.includes(':') ? mapping!.split(':') : ['', mapping];
    const key = `${container}/${protocol}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostPort: host! });
  }
  return {
    name: plan.container,
    Image: plan.image,
    Cmd: plan.command,
    Env: Object.entries({ ...plan.env, ...secretEnv }).map(([key, value]) => `${key}=${value}`),
    Labels: plan.labels,
    ExposedPorts: exposed,
    StopTimeout: Math.ceil(plan.stopGraceMs / 1000),
    HostConfig: { PortBindings: bindings, RestartPolicy: { Name: 'unless-stopped' } },
  };
}

async function imageExists(docker: Docker, ref: string): Promise<boolean> {
  return docker.getImage(ref).inspect().then(() => true, () => false);
}

async function removeContainer(docker: Docker, name: string, graceMs: number): Promise<void> {
  const container = docker.getContainer(name);
  await container.stop({ t: Math.ceil(graceMs / 1000) }).catch((error) => {
    if ((error as { statusCode?: number }).statusCode !== 304) throw error; // 304: already stopped
  });
  await container.remove({ force: true });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
