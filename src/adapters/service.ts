import type Docker from 'dockerode';
import type { ContainerOptions } from '../core/container-options.js';
import { LABEL_PREFIX } from '../core/labels.js';
import type { ServicePlan } from '../core/plan.js';
import { PROXY_NETWORK } from '../core/proxy.js';

/** Inspect a container by name; undefined when there is none. */
export async function findContainer(docker: Docker, name: string): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await docker.getContainer(name).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}

/** The Engine API body for a service's container of an image; the pipeline's labels are set over the user's. */
export function containerSpec(
  plan: ServicePlan,
  image: string,
  secretEnv: Record<string, string>,
  labels: Record<string, string>,
): Docker.ContainerCreateOptions {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, { HostPort: string }[]> = {};
  for (const entry of plan.ports) {
    const [mapping, protocol = 'tcp'] = entry.split('/');
    const [host, container] = mapping!.includes(':') ? mapping!.split(':') : ['', mapping];
    const key = `${container}/${protocol}`;
    exposed[key] = {};
    bindings[key] = [...(bindings[key] ?? []), { HostPort: host! }];
  }
  const { options } = plan;
  return {
    name: plan.container,
    Image: image,
    Cmd: plan.command,
    Env: Object.entries({ ...plan.env, ...secretEnv }).map(([key, value]) => `${key}=${value}`),
    Labels: { ...options.labels, ...labels },
    ExposedPorts: exposed,
    StopTimeout: Math.ceil(plan.stopGraceMs / 1000),
    ...(options.user !== undefined ? { User: options.user } : {}),
    // No restart policy until the container is healthy, so a crash at start shows as the exit it is.
    // A proxied service publishes nothing: the host's proxy serves its ports and reaches it on the proxy's network.
    HostConfig: plan.proxy
      ? { NetworkMode: PROXY_NETWORK, RestartPolicy: { Name: 'no' }, ...hostConfig(options) }
      : { PortBindings: bindings, RestartPolicy: { Name: 'no' }, ...hostConfig(options) },
  };
}

/** The HostConfig fields of a service's container options (Compose's volumes, mem_limit, cpus, logging, extra_hosts). */
export function hostConfig(options: ContainerOptions): Docker.HostConfig {
  return {
    ...(options.volumes.length > 0 ? { Binds: options.volumes.map((m) => `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`) } : {}),
    ...(options.memory !== undefined ? { Memory: options.memory } : {}),
    ...(options.cpus !== undefined ? { NanoCpus: Math.round(options.cpus * 1e9) } : {}),
    ...(options.logging ? { LogConfig: { Type: options.logging.driver, Config: options.logging.options } } : {}),
    ...(options.extraHosts.length > 0 ? { ExtraHosts: options.extraHosts } : {}),
  };
}

/**
 * A one-off container of a service (a release command, `pipeline exec --new`): as the service runs — its env, secrets,
 * volumes and other options — but with the given command, no name, no published ports and no restart.
 */
export function oneOffSpec(
  plan: ServicePlan,
  image: string,
  secretEnv: Record<string, string>,
  labels: Record<string, string>,
  command: string[],
): Docker.ContainerCreateOptions {
  const {
    name: _name,
    ExposedPorts: _exposed,
    StopTimeout: _stop,
    HostConfig: host,
    ...spec
  } = containerSpec(plan, image, secretEnv, labels);
  return { ...spec, Cmd: command, HostConfig: { ...host, PortBindings: {} } };
}

/** Creates the service's named volumes that do not exist yet, labelled with the project; existing ones (and their data) are kept as they are. */
export async function ensureVolumes(docker: Docker, plan: ServicePlan): Promise<void> {
  const project = plan.labels[`${LABEL_PREFIX}project`]!;
  await Promise.all(
    plan.options.volumes
      .filter((m) => m.type === 'volume')
      .map((m) =>
        // The Engine answers a create of an existing volume with that volume, unchanged.
        docker.createVolume({ Name: m.source, Labels: { [`${LABEL_PREFIX}project`]: project } }),
      ),
  );
}

/** Once healthy, a service's container comes back after a crash or a reboot of the host. */
export const RUNNING_RESTART_POLICY = { Name: 'unless-stopped' } as const;

/** Stops a container, giving it its grace period after SIGTERM; a stopped one is left as it is. */
export async function stopContainer(container: Docker.Container, graceMs: number): Promise<void> {
  await container.stop({ t: Math.ceil(graceMs / 1000) }).catch((error) => {
    if ((error as { statusCode?: number }).statusCode !== 304) throw error; // 304: already stopped
  });
}

/** Starts a container; one that runs already (a rollback before its stop) is left as it is. */
export async function startContainer(container: Docker.Container): Promise<void> {
  await container.start().catch((error) => {
    if ((error as { statusCode?: number }).statusCode !== 304) throw error; // 304: already started
  });
}

/** The name a replaced container is kept under, for rollback: `<container>_<its short id>`. */
export function keptName(container: string, id: string): string {
  return `${container}_${id.slice(0, 12)}`;
}

/** Kept (previous) containers of a service on a host, newest first. */
export async function keptContainers(docker: Docker, project: string, service: string, current: string): Promise<Docker.ContainerInfo[]> {
  return keptAmong(
    await docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_PREFIX}project=${project}`, `${LABEL_PREFIX}service=${service}`] },
    }),
    project,
    service,
    current,
  );
}

/** The kept containers of a service among containers listed on a host, newest first. */
export function keptAmong(all: readonly Docker.ContainerInfo[], project: string, service: string, current: string): Docker.ContainerInfo[] {
  return all
    .filter(
      (info) =>
        info.Labels?.[`${LABEL_PREFIX}project`] === project &&
        info.Labels?.[`${LABEL_PREFIX}service`] === service &&
        !info.Names.includes(`/${current}`),
    )
    .sort((a, b) => b.Created - a.Created);
}
