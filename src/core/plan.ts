import type { HealthcheckConfig, PipelineConfig } from '../config/schema.js';
import { type ContainerOptions, volumeName } from './container-options.js';
import { environmentSsh, type HostAddress, parseHost } from './hosts.js';
import { tagOf } from './image-ref.js';
import { LABEL_PREFIX } from './labels.js';
import { type Release, releaseRef } from './release.js';

export { LABEL_PREFIX };

/** One service as it runs on a host of an environment, whatever release it runs. */
export interface ServicePlan {
  service: string;
  /** Container name on the host: `${project}-${service}`. */
  container: string;
  /** A third-party image reference (logstash); undefined: the service runs the release. */
  image?: string;
  command?: string[];
  env: Record<string, string>;
  /** Secret variables of the container: its name for each → the runner variable that holds the value. */
  secrets: Record<string, string>;
  ports: string[];
  /** The labels that say whose container it is: project, service, environment. */
  labels: Record<string, string>;
  redeploy: boolean;
  healthcheck?: HealthcheckConfig;
  startPeriodMs: number;
  stopGraceMs: number;
  /** Volumes, limits, user, labels, logging, extra hosts; a named volume's source is its Docker volume (`<project>_<name>`). */
  options: ContainerOptions;
  /** Served by the host's proxy (`proxy: true`): its container publishes no port. */
  proxy: boolean;
}

export interface HostPlan {
  address: HostAddress;
  roles: string[];
  services: ServicePlan[];
}

/**
 * Which service runs where in an environment: hosts in config order, each service once per host; `primary` names,
 * per service, the first host of its first role that has hosts here (where a release command runs).
 */
/** The host proxy's image and how long an old container gets to finish its requests after a switch. */
export interface ProxyPlan {
  image: string;
  drainTimeoutMs: number;
}

export interface DeployPlan {
  environment: string;
  hosts: HostPlan[];
  primary: Record<string, string>;
  proxy: ProxyPlan;
}

export function planDeploy(config: PipelineConfig, environment: string): DeployPlan {
  const env = config.environments[environment]!;
  const hosts = new Map<string, HostPlan>();
  for (const [role, specs] of Object.entries(env.hosts ?? {})) {
    for (const spec of specs) {
      const address = parseHost(spec, environmentSsh(config.ssh, env.ssh));
      const host = hosts.get(address.id) ?? { address, roles: [], services: [] };
      if (!host.roles.includes(role)) host.roles.push(role);
      hosts.set(address.id, host);
    }
  }
  const services = Object.entries(config.services);
  for (const host of hosts.values()) {
    host.services = services
      .filter(([, svc]) => svc.roles.some((role) => host.roles.includes(role)))
      .map(([service]) => servicePlan(config, environment, service, `${config.project}-${service}`));
  }
  return {
    environment,
    hosts: [...hosts.values()],
    primary: primaryHosts(config, environment),
    proxy: { image: config.proxy.image, drainTimeoutMs: config.proxy.drainTimeout },
  };
}

/** For each service, the first host of its first role that has hosts in the environment (Kamal's primary host). */
function primaryHosts(config: PipelineConfig, environment: string): Record<string, string> {
  const env = config.environments[environment]!;
  const primary: Record<string, string> = {};
  for (const [service, svc] of Object.entries(config.services)) {
    const role = svc.roles.find((name) => (env.hosts?.[name]?.length ?? 0) > 0);
    if (role) primary[service] = parseHost(env.hosts![role]![0]!, environmentSsh(config.ssh, env.ssh)).id;
  }
  return primary;
}

/** One service of an environment as it runs, under the name its container (or swarm service) gets. */
export function servicePlan(config: PipelineConfig, environment: string, service: string, container: string): ServicePlan {
  const env = config.environments[environment]!;
  const svc = config.services[service]!;
  return {
    service,
    container,
    ...(svc.image !== undefined ? { image: svc.image } : {}),
    command: svc.command,
    env: { ...env.env, ...svc.env },
    secrets: { ...env.secrets, ...svc.secrets },
    ports: svc.ports,
    labels: prefixed({ project: config.project, service, environment }),
    redeploy: svc.redeploy,
    healthcheck: svc.healthcheck,
    startPeriodMs: svc.startPeriod,
    stopGraceMs: svc.stopGracePeriod,
    options: containerOptions(config.project, svc),
    proxy: svc.proxy,
  };
}

function containerOptions(project: string, svc: PipelineConfig['services'][string]): ContainerOptions {
  const { volumes, memory, cpus, user, labels, logging, extraHosts } = svc;
  return {
    volumes: volumes.map((mount) => (mount.type === 'volume' ? { ...mount, source: volumeName(project, mount.source) } : mount)),
    ...(memory !== undefined ? { memory } : {}),
    ...(cpus !== undefined ? { cpus } : {}),
    ...(user !== undefined ? { user } : {}),
    labels,
    ...(logging !== undefined ? { logging } : {}),
    extraHosts,
  };
}

/** Whether the service runs the pipeline's own image (the release) rather than a third-party one. */
export function runsRelease(svc: ServicePlan): boolean {
  return svc.image === undefined;
}

/** The image a service's container is created from: the release at its tag, or its own image. */
export function serviceImage(svc: ServicePlan, release: Release): string {
  return svc.image ?? releaseRef(release);
}

/** The service's labels for a container of the release: whose it is, and which tag and commit it runs. */
export function releaseLabels(svc: ServicePlan, release: Release): Record<string, string> {
  const own = runsRelease(svc);
  return {
    ...svc.labels,
    ...prefixed({ tag: own ? release.tag : tagOf(svc.image!), ...(own && release.commit ? { commit: release.commit } : {}) }),
  };
}

function prefixed(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).map(([key, value]) => [LABEL_PREFIX + key, value]));
}

/** The runner variables a deploy to these environments reads secrets from: theirs, and their services'. */
export function secretVariables(config: PipelineConfig, environments: readonly string[]): string[] {
  const variables = environments.flatMap((environment) =>
    environmentServices(config, environment).flatMap((svc) => Object.values(svc.secrets)),
  );
  return [...new Set(variables)];
}

/** The services an environment runs: those of its hosts' roles, or every service on a swarm. */
function environmentServices(config: PipelineConfig, environment: string): ServicePlan[] {
  if (config.environments[environment]!.swarm)
    return Object.keys(config.services).map((service) => servicePlan(config, environment, service, service));
  return planDeploy(config, environment).hosts.flatMap((host) => host.services);
}

/** Every runner variable any environment or service reads a secret from: all of them are masked in all output. */
export function allSecretVariables(config: PipelineConfig): string[] {
  const maps = [...Object.values(config.environments), ...Object.values(config.services)].map((owner) => owner.secrets);
  return [...new Set(maps.flatMap((map) => Object.values(map)))];
}

/** The host port a container port is published on, from `HOST:CONTAINER` entries. */
export function publishedPort(ports: string[], containerPort: number): number | undefined {
  for (const entry of ports) {
    const [host, container] = entry.split('/')[0]!.split(':');
    if (container !== undefined && Number(container) === containerPort) return Number(host);
  }
  return undefined;
}
