import type { HealthcheckConfig, PipelineConfig } from '../config/schema.js';
import { parseHost, type HostAddress } from './hosts.js';
import { tagOf } from './image-ref.js';
import { releaseRef, type Release } from './release.js';

export const LABEL_PREFIX = 'pipeline.';

/** One service as it runs on a host of an environment, whatever release it runs. */
export interface ServicePlan {
  service: string;
  /** Container name on the host: `${project}-${service}`. */
  container: string;
  /** A third-party image reference (logstash); undefined: the service runs the release. */
  image?: string;
  command?: string[];
  env: Record<string, string>;
  /** Names of runner environment variables passed to the container. */
  secrets: string[];
  ports: string[];
  /** The labels that say whose container it is: project, service, environment. */
  labels: Record<string, string>;
  redeploy: boolean;
  healthcheck?: HealthcheckConfig;
  startPeriodMs: number;
  stopGraceMs: number;
}

export interface HostPlan { address: HostAddress; roles: string[]; services: ServicePlan[] }

/** Which service runs where in an environment: hosts in config order, each service once per host. */
export interface DeployPlan { environment: string; hosts: HostPlan[] }

export function planDeploy(config: PipelineConfig, environment: string): DeployPlan {
  const env = config.environments[environment]!;
  const hosts = new Map<string, HostPlan>();
  for (const [role, specs] of Object.entries(env.hosts ?? {})) {
    for (const spec of specs) {
      const address = parseHost(spec, config.ssh);
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
  return { environment, hosts: [...hosts.values()] };
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
    secrets: [...new Set([...env.secrets, ...svc.secrets])],
    ports: svc.ports,
    labels: prefixed({ project: config.project, service, environment }),
    redeploy: svc.redeploy,
    healthcheck: svc.healthcheck,
    startPeriodMs: svc.startPeriod,
    stopGraceMs: svc.stopGracePeriod,
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

/** Every secret variable name the environments and services use. */
export function secretNames(config: PipelineConfig): string[] {
  return [...new Set([...Object.values(config.environments).flatMap((env) => env.secrets), ...Object.values(config.services).flatMap((svc) => svc.secrets)])];
}

/** The host port a container port is published on, from `HOST:CONTAINER` entries. */
export function publishedPort(ports: string[], containerPort: number): number | undefined {
  for (const entry of ports) {
    const [host, container] = entry.split('/')[0]!.split(':');
    if (container !== undefined && Number(container) === containerPort) return Number(host);
  }
  return undefined;
}
