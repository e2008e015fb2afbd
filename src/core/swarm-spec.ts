/**
 * A swarm environment's services as Docker Swarm wants them: the Engine API's ServiceSpec for each pipeline
 * service, made from the same plan a fleet deploys (pure: the nodes, network and secrets are passed in).
 */
import type { HealthcheckConfig, PipelineConfig } from '../config/schema.js';
import { type HostAddress, parseHost } from './hosts.js';
import { tagOf } from './image-ref.js';
import { LABEL_PREFIX, publishedPort, runsRelease, type ServicePlan, servicePlan } from './plan.js';
import { type Release, releaseRef } from './release.js';
import { type LogDriverSpec, type MountSpec, type ResourcesSpec, swarmOptions } from './swarm-options.js';

/** The labels `docker stack` reads: `docker stack ps <project>` lists the services that carry it. */
export const STACK_NAMESPACE = 'com.docker.stack.namespace';
export const STACK_IMAGE = 'com.docker.stack.image';
/** Service labels that change on every deploy without changing what runs. */
export const DEPLOYED_BY = `${LABEL_PREFIX}deployed-by`;
export const DEPLOYED_AT = `${LABEL_PREFIX}deployed-at`;
/** The releases a service ran before, newest first (JSON), for `pipeline rollback`. */
export const HISTORY = `${LABEL_PREFIX}history`;

export interface SwarmServicePlan extends ServicePlan {
  roles: string[];
  /** Tasks of a replicated service; a `redeploy: false` service is global (one task per node of its roles). */
  replicas: number;
}

export interface SwarmPlan {
  environment: string;
  project: string;
  manager: HostAddress;
  publish: 'ingress' | 'host';
  pullWithoutAuth: boolean;
  /** The overlay network the services share, as `docker stack deploy` makes it: `<project>_default`. */
  network: string;
  services: SwarmServicePlan[];
}

/** A swarm environment's services, each named `<project>_<service>` as `docker stack deploy` names them. */
export function planSwarm(config: PipelineConfig, environment: string): SwarmPlan {
  const swarm = config.environments[environment]!.swarm!;
  return {
    environment,
    project: config.project,
    manager: parseHost(swarm.manager, config.ssh),
    publish: swarm.publish,
    pullWithoutAuth: swarm.pullWithoutAuth,
    network: `${config.project}_default`,
    services: Object.entries(config.services).map(([service, svc]) => ({
      ...servicePlan(config, environment, service, swarmServiceName(config.project, service)),
      roles: svc.roles,
      replicas: svc.replicas ?? 1,
    })),
  };
}

export function swarmServiceName(project: string, service: string): string {
  return `${project}_${service}`;
}

/** A node of the swarm as the deploy reads it. */
export interface SwarmNode {
  id: string;
  hostname: string;
  /** The address it is reached at (its swarm address). */
  address: string;
  /** Its `role` label, if the operator gave it one. */
  role?: string;
  /** Ready and active: the scheduler may put tasks on it. */
  available: boolean;
}

/** How people name nodes: by hostname, with the address when hostnames repeat. */
export function nodeNames(nodes: readonly SwarmNode[]): Map<string, string> {
  const count = new Map<string, number>();
  for (const node of nodes) count.set(node.hostname, (count.get(node.hostname) ?? 0) + 1);
  return new Map(nodes.map((node) => [node.id, count.get(node.hostname)! > 1 ? `${node.hostname} (${node.address})` : node.hostname]));
}

/** The nodes that may run a service of these roles. */
export function nodesOf(roles: readonly string[], nodes: readonly SwarmNode[]): SwarmNode[] {
  return nodes.filter((node) => node.available && node.role !== undefined && roles.includes(node.role));
}

const CONSTRAINT_VALUE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Where a service may run: nodes whose `role` label is one of its roles. Swarm's constraints must all hold (there is
 * no "or"), so several roles are written as the exclusion of every other node the swarm has now: those labelled with
 * another role, and those with no role (by id). A node that joins later with another role is excluded at the next deploy.
 */
export function placementConstraints(roles: readonly string[], nodes: readonly SwarmNode[]): string[] {
  if (roles.length === 1) return [`node.labels.role==${roles[0]}`];
  const outside = nodes.filter((node) => node.role === undefined || !roles.includes(node.role));
  const otherRoles = [
    ...new Set(outside.flatMap((node) => (node.role !== undefined && CONSTRAINT_VALUE.test(node.role) ? [node.role] : []))),
  ].sort();
  const unnamed = outside
    .filter((node) => node.role === undefined || !CONSTRAINT_VALUE.test(node.role))
    .map((node) => node.id)
    .sort();
  return [...otherRoles.map((role) => `node.labels.role!=${role}`), ...unnamed.map((id) => `node.id!=${id}`)];
}

/** What a preflight finds wrong with the swarm for these services: roles no node has, host-mode ports with more replicas than nodes. */
export function placementProblems(plan: Pick<SwarmPlan, 'publish' | 'services'>, nodes: readonly SwarmNode[]): string[] {
  const problems: string[] = [];
  const roles = [...new Set(plan.services.flatMap((svc) => svc.roles))];
  for (const role of roles) {
    if (nodesOf([role], nodes).length === 0) {
      const users = plan.services
        .filter((svc) => svc.roles.includes(role))
        .map((svc) => svc.service)
        .join(', ');
      problems.push(`no available node has the label role=${role} (for ${users}): docker node update --label-add role=${role} NODE`);
    }
  }
  for (const svc of plan.services) {
    const eligible = nodesOf(svc.roles, nodes).length;
    if (plan.publish === 'host' && svc.redeploy && svc.ports.length > 0 && eligible > 0 && svc.replicas > eligible) {
      problems.push(
        `${svc.service}: ${svc.replicas} replicas publish ${svc.ports.join(', ')} in host mode, but ${eligible} node(s) have its roles: a port is published once per node`,
      );
    }
  }
  return problems;
}

/** The image a service's tasks run, pinned by digest when it is known (`repo:tag@sha256:…`), with what it is. */
export interface ServiceImage {
  image: string;
  tag: string;
  digest?: string;
  commit?: string;
}

/** The release for a service of the pipeline's image; a third-party image with the digest found for it (if any). */
export function serviceImageOf(svc: ServicePlan, release: Release, thirdPartyDigest?: string): ServiceImage {
  if (runsRelease(svc)) {
    return {
      image: pinned(releaseRef(release), release.digest),
      tag: release.tag,
      ...(release.digest ? { digest: release.digest } : {}),
      ...(release.commit ? { commit: release.commit } : {}),
    };
  }
  return { image: pinned(svc.image!, thirdPartyDigest), tag: tagOf(svc.image!), ...(thirdPartyDigest ? { digest: thirdPartyDigest } : {}) };
}

function pinned(ref: string, digest: string | undefined): string {
  return digest ? `${ref.split('@')[0]}@${digest}` : ref;
}

export interface HealthCheckSpec {
  Test: string[];
  Interval: number;
  Timeout: number;
  Retries: number;
  StartPeriod: number;
}
export interface RolloutConfig {
  Parallelism: number;
  Delay: number;
  FailureAction: 'rollback' | 'pause';
  Monitor: number;
  MaxFailureRatio: number;
  Order: 'start-first' | 'stop-first';
}
export interface PortSpec {
  Protocol: 'tcp' | 'udp';
  TargetPort: number;
  PublishedPort?: number;
  PublishMode: 'ingress' | 'host';
}
export interface ContainerSpec {
  Image: string;
  Args?: string[];
  Env: string[];
  Labels: Record<string, string>;
  StopGracePeriod: number;
  HealthCheck?: HealthCheckSpec;
  Mounts?: MountSpec[];
  User?: string;
  Hosts?: string[];
}
export interface TaskTemplate {
  ContainerSpec: ContainerSpec;
  Resources?: ResourcesSpec;
  LogDriver?: LogDriverSpec;
  Placement: { Constraints: string[] };
  Networks: { Target: string; Aliases: string[] }[];
  ForceUpdate?: number;
}
/** The Engine API's ServiceSpec, as far as the pipeline sets it. */
export interface SwarmServiceSpec {
  Name: string;
  Labels: Record<string, string>;
  TaskTemplate: TaskTemplate;
  Mode: { Replicated: { Replicas: number } } | { Global: Record<string, never> };
  UpdateConfig: RolloutConfig;
  RollbackConfig: RolloutConfig;
  EndpointSpec: { Mode: 'vip' | 'dnsrr'; Ports: PortSpec[] };
}

export interface SpecInput {
  project: string;
  publish: 'ingress' | 'host';
  image: ServiceImage;
  nodes: readonly SwarmNode[];
  /** The id of the project's overlay network (the Engine stores ids). */
  networkId: string;
  secretEnv: Record<string, string>;
  deployedBy: string;
  deployedAt: string;
  /** The releases the service ran before this one, newest first. */
  history: readonly ServiceImage[];
  /** Makes Swarm replace tasks whose spec did not change (a `redeploy: false` service that does not run). */
  forceUpdate?: number;
}

/** The whole ServiceSpec of a service: every field Swarm would otherwise default is set. */
export function serviceSpec(svc: SwarmServicePlan, input: SpecInput): SwarmServiceSpec {
  const stack = { [STACK_NAMESPACE]: input.project };
  const what = { ...svc.labels, ...imageLabels(input.image) };
  const rollout = rolloutConfig(svc, input.publish);
  const healthCheck = healthCheckSpec(svc.healthcheck);
  const options = swarmOptions(svc.options, input.project);
  return {
    Name: svc.container,
    Labels: {
      ...stack,
      [STACK_IMAGE]: input.image.image.split('@')[0]!,
      ...what,
      [DEPLOYED_BY]: input.deployedBy,
      [DEPLOYED_AT]: input.deployedAt,
      [HISTORY]: JSON.stringify(input.history),
    },
    TaskTemplate: {
      ContainerSpec: {
        Image: input.image.image,
        ...(svc.command ? { Args: svc.command } : {}),
        Env: Object.entries({ ...svc.env, ...input.secretEnv }).map(([key, value]) => `${key}=${value}`),
        Labels: { ...svc.options.labels, ...stack, ...what },
        StopGracePeriod: ns(svc.stopGraceMs),
        ...(healthCheck ? { HealthCheck: healthCheck } : {}),
        ...options.container,
      },
      ...options.template,
      Placement: { Constraints: placementConstraints(svc.roles, input.nodes) },
      Networks: [{ Target: input.networkId, Aliases: [svc.service] }],
      ...(input.forceUpdate !== undefined ? { ForceUpdate: input.forceUpdate } : {}),
    },
    Mode: svc.redeploy ? { Replicated: { Replicas: svc.replicas } } : { Global: {} },
    UpdateConfig: rollout,
    RollbackConfig: { ...rollout, FailureAction: 'pause' },
    EndpointSpec: endpointSpec(svc.ports, input.publish),
  };
}

/** Which release a service runs, as its labels say it (`pipeline status` reads them). */
function imageLabels(image: ServiceImage): Record<string, string> {
  return {
    [`${LABEL_PREFIX}tag`]: image.tag,
    ...(image.commit ? { [`${LABEL_PREFIX}commit`]: image.commit } : {}),
    ...(image.digest ? { [`${LABEL_PREFIX}digest`]: image.digest } : {}),
  };
}

/** Nanoseconds, as the Engine API takes durations. */
export function ns(ms: number): number {
  return Math.round(ms * 1_000_000);
}

/**
 * One task at a time; start-first (the new task is healthy before the old one stops) unless a port published in host
 * mode is in the way, which a new task on the same node could not bind; a failed task rolls the update back. Monitor
 * covers the health check's start period and retries, so a task that turns unhealthy after starting counts as failed.
 */
export function rolloutConfig(
  svc: Pick<ServicePlan, 'ports' | 'healthcheck' | 'startPeriodMs'>,
  publish: 'ingress' | 'host',
): RolloutConfig {
  return {
    Parallelism: 1,
    Delay: 0,
    FailureAction: 'rollback',
    Monitor: ns(monitorMs(svc)),
    MaxFailureRatio: 0,
    Order: publish === 'host' && svc.ports.length > 0 ? 'stop-first' : 'start-first',
  };
}

const MIN_MONITOR_MS = 5_000;

export function monitorMs(svc: Pick<ServicePlan, 'healthcheck' | 'startPeriodMs'>): number {
  const check = svc.healthcheck;
  const unhealthyWithin = check ? check.startPeriod + check.retries * (check.interval + check.timeout) : 0;
  return Math.max(MIN_MONITOR_MS, svc.startPeriodMs, unhealthyWithin + 1_000);
}

/**
 * The service's health check as the task's container runs it, so that Swarm counts a task as running only once healthy.
 * `test` runs as written; `http` becomes a GET from inside the container with curl, else wget, else node (whichever
 * the image has; the URL is an argument, never shell text).
 */
export function healthCheckSpec(check: HealthcheckConfig | undefined): HealthCheckSpec | undefined {
  if (!check) return undefined;
  const test = check.http
    ? ['CMD', 'sh', '-c', HTTP_PROBE, 'sh', `http://127.0.0.1:${check.http.port}${check.http.path}`]
    : ['CMD', 'CMD-SHELL', 'NONE'].includes(check.test![0]!)
      ? check.test!
      : ['CMD', ...check.test!];
  return {
    Test: test,
    Interval: ns(check.interval),
    Timeout: ns(check.timeout),
    Retries: check.retries,
    StartPeriod: ns(check.startPeriod),
  };
}

/** Exit 0 only when $1 answers 2xx (wget fails on 4xx and 5xx and follows redirects). */
export const HTTP_PROBE = [
  'if command -v curl >/dev/null 2>&1; then code=$(curl -s -o /dev/null -w "%{http_code}" "$1") && case $code in 2??) exit 0;; esac; exit 1; fi',
  'if command -v wget >/dev/null 2>&1; then exec wget -q -O /dev/null "$1"; fi',
  'exec node -e "require(\'http\').get(process.argv[1], (r) => process.exit(r.statusCode >= 200 && r.statusCode < 300 ? 0 : 1)).on(\'error\', () => process.exit(1))" "$1"',
].join('\n');

/** Ports published through the routing mesh (VIP), or in host mode on each task's node (DNS round robin: no VIP needed). */
export function endpointSpec(ports: readonly string[], publish: 'ingress' | 'host'): SwarmServiceSpec['EndpointSpec'] {
  return {
    Mode: publish === 'host' ? 'dnsrr' : 'vip',
    Ports: ports.map((entry) => {
      const [mapping, protocol = 'tcp'] = entry.split('/');
      const [published, target] = mapping!.includes(':') ? mapping!.split(':') : [undefined, mapping];
      return {
        Protocol: protocol as 'tcp' | 'udp',
        TargetPort: Number(target),
        ...(published ? { PublishedPort: Number(published) } : {}),
        PublishMode: publish,
      };
    }),
  };
}

/** The release a service's spec says it runs (its labels), for history and status. */
export function specImage(
  spec: { Labels?: Record<string, string>; TaskTemplate?: { ContainerSpec?: { Image?: string } } } | undefined,
): ServiceImage | undefined {
  const image = spec?.TaskTemplate?.ContainerSpec?.Image;
  if (!image) return undefined;
  const labels = spec.Labels ?? {};
  const digest = labels[`${LABEL_PREFIX}digest`] ?? image.split('@')[1];
  const commit = labels[`${LABEL_PREFIX}commit`];
  return {
    image,
    tag: labels[`${LABEL_PREFIX}tag`] ?? tagOf(image.split('@')[0]!),
    ...(digest ? { digest } : {}),
    ...(commit ? { commit } : {}),
  };
}

/**
 * Where people reach each service that publishes its health check port (or its first port): in host mode on every
 * node that runs one of its tasks, through the routing mesh on the manager.
 */
export function serviceUrls(
  plan: Pick<SwarmPlan, 'publish' | 'services' | 'manager'>,
  taskNodes: ReadonlyMap<string, readonly string[]>,
  nodes: readonly SwarmNode[],
): { host: string; service: string; url: string }[] {
  const names = nodeNames(nodes);
  return plan.services.flatMap((svc) => {
    const containerPort = svc.healthcheck?.http?.port ?? Number(svc.ports[0]?.split('/')[0]?.split(':').at(-1));
    const port = publishedPort(svc.ports, containerPort);
    if (!port) return [];
    const url = (address: string) =>
      `http://${address.includes(':') ? `[${address}]` : address}:${port}${svc.healthcheck?.http?.path ?? '/'}`;
    if (plan.publish === 'ingress') {
      const manager = plan.manager.kind === 'local' ? '127.0.0.1' : plan.manager.host;
      return [{ host: plan.manager.id, service: svc.service, url: url(manager) }];
    }
    return (taskNodes.get(svc.service) ?? []).flatMap((id) => {
      const node = nodes.find((n) => n.id === id);
      return node ? [{ host: names.get(id)!, service: svc.service, url: url(node.address) }] : [];
    });
  });
}
