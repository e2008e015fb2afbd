import type { HealthcheckConfig, PipelineConfig } from '../config/schema.js';
import { parseHost, type HostAddress } from './hosts.js';
import { durationMs } from './duration.js';

export const LABEL_PREFIX = 'pipeline.';

export interface ServicePlan {
  service: string;
  /** Container name on the host: `${project}-${service}`. */
  container: string;
  /** Image reference with its tag. */
  image: string;
  /** Whether the image is the pipeline's own (pushed by it) rather than a third-party one. */
  ownImage: boolean;
  command?: string[];
  env: Record<string, string>;
  /** Names of runner environment variables passed to the container. */
  secrets: string[];
  ports: string[];
  labels: Record<string, string>;
  redeploy: boolean;
  healthcheck?: HealthcheckConfig;
  startPeriodMs: number;
  stopGraceMs: number;
}

export interface HostPlan { address: HostAddress; roles: string[]; services: ServicePlan[] }

export interface DeployPlan { environment: string; tag: string; commit?: string; hosts: HostPlan[] }

/** Which service runs where, with what: hosts in config order, each service once per host. */
export function planDeploy(config: PipelineConfig, environment: string, release: { tag: string; commit?: string }): DeployPlan {
  const env = config.environments[environment]!;
  const hosts = new Map<string, HostPlan>();
  for (const [role, specs] of Object.entries(env.hosts)) {
    for (const spec of specs) {
      const address = parseHost(spec, config.ssh);
      const host = hosts.get(address.id) ?? { address, roles: [], services: [] };
      if (!host.roles.includes(role)) host.roles.push(role);
      hosts.set(address.id, host);
    }
  }
  for (const host of hosts.values()) {
    host.services = Object.entries(config.services)
      .filter(([, svc]) => svc.roles.some((role) => host.roles.includes(role)))
      .map(([service, svc]) => ({
        service,
        container: `${config.project}-${service}`,
        image: svc.image ?? `${config.image}:${release.tag}`,
        ownImage: svc.image === undefined,
        command: svc.command,
        env: { ...env.env, ...svc.env },
        secrets: [...new Set([...env.secrets, ...svc.secrets])],
        ports: svc.ports,
        labels: serviceLabels(config.project, service, environment, svc.image === undefined ? release : { tag: svc.image.split(':').at(-1)! }),
        redeploy: svc.redeploy,
        healthcheck: svc.healthcheck,
        startPeriodMs: durationMs(svc.startPeriod),
        stopGraceMs: durationMs(svc.stopGracePeriod),
      }));
  }
  return { environment, tag: release.tag, commit: release.commit, hosts: [...hosts.values()] };
}

function serviceLabels(project: string, service: string, environment: string, release: { tag: string; commit?: string }): Record<string, string> {
  const labels: Record<string, string> = { project, service, environment, tag: release.tag };
  if (release.commit) labels.commit = release.commit;
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
