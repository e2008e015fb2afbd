import { engineMessage, registryDigest } from '../../adapters/docker.js';
import { healthNow } from '../../adapters/health.js';
import type { HostConnection } from '../../adapters/ports.js';
import { keptContainers } from '../../adapters/service.js';
import { planChanges } from '../../core/changes.js';
import type { HostAddress } from '../../core/hosts.js';
import { DEPLOY_LABEL, type PendingDeploy } from '../../core/leftovers.js';
import type { LogLine } from '../../core/logs.js';
import { type DeployPlan, type HostPlan, LABEL_PREFIX, publishedPort, runsRelease, type ServicePlan } from '../../core/plan.js';
import { credentialsFor, type RegistryAccess } from '../../core/registry.js';
import { type Release, releaseRef } from '../../core/release.js';
import { HostError, PipelineError, StageError } from '../../errors.js';
import { engineCall } from '../engine-call.js';
import { EnvironmentLock, type LeaseWatch } from '../environment-lock.js';
import { type LockFields, type LockInfo, lockDir, readLock, removeLock } from '../lock.js';
import { pendingPath, readPending } from '../pending.js';
import type {
  DeployJob,
  DeployTarget,
  EarlyPull,
  ExecRequest,
  Log,
  LogsRequest,
  MemberChanges,
  MemberDeploy,
  ServiceStatus,
  ServiceUrl,
  TargetMember,
} from '../target.js';
import { startEarlyPull } from './early-pull.js';
import { HostDeploy } from './host.js';
import { leftoverCounts, observedServices, observeHost } from './observe.js';
import { serviceExec, serviceLogs } from './operate.js';
import { HostProxy } from './proxy.js';
import { describeProxy, proxyStatus } from './proxy-status.js';

export interface FleetOptions {
  project: string;
  /** Hosts connected to at once. */
  parallel: number;
  keepReleases: number;
  lockTtlMs: number;
  registry: RegistryAccess | undefined;
  /** A connection to a host: SSH, or the runner's own engine for `local`. */
  connect(address: HostAddress): Promise<HostConnection>;
}

/** A fixed fleet of hosts, each reached over one SSH connection (or the runner's engine for `local`). */
export class FleetTarget implements DeployTarget {
  readonly environment: string;
  readonly members: readonly TargetMember[];
  private readonly connecting = new Map<string, Promise<HostConnection>>();
  private readonly connected = new Map<string, HostConnection>();
  private readonly environmentLock: EnvironmentLock;
  private readonly earlyPulls = new Map<string, EarlyPull>();
  private closed = false;

  constructor(
    readonly plan: DeployPlan,
    private readonly options: FleetOptions,
  ) {
    this.environment = plan.environment;
    this.members = plan.hosts.map((host) => ({ id: host.address.id, roles: host.roles }));
    this.environmentLock = new EnvironmentLock(options.project, plan.environment, options.lockTtlMs);
  }

  private host(id: string): HostPlan {
    return this.plan.hosts.find((h) => h.address.id === id)!;
  }

  /** Connects to one host (host key checked, one SSH connection) and checks that its engine answers; asked again, the same connection. */
  private connect(id: string): Promise<HostConnection> {
    let connecting = this.connecting.get(id);
    if (!connecting) {
      connecting = this.openConnection(id);
      this.connecting.set(id, connecting);
    }
    return connecting;
  }

  private async openConnection(id: string): Promise<HostConnection> {
    const connection = await this.options.connect(this.host(id).address);
    if (this.closed) {
      await connection.close();
      throw new StageError('stopped');
    }
    this.connected.set(id, connection);
    await engineCall(id, connection.docker.version(), 'Docker engine not answering');
    return connection;
  }

  prepare(): void {
    const ids = this.members.map((member) => member.id);
    const next = async (): Promise<void> => {
      for (let id = ids.shift(); id !== undefined && !this.closed; id = ids.shift()) await this.connect(id).catch(() => undefined);
    };
    for (let i = 0; i < Math.min(this.options.parallel, ids.length); i++) void next();
  }

  prefetch(ref: string): ReadonlyMap<string, EarlyPull> {
    for (const host of this.plan.hosts) {
      const id = host.address.id;
      if (host.address.kind === 'local' || !host.services.some(runsRelease) || this.earlyPulls.has(id)) continue;
      const engine = this.connect(id).then((connection) => connection.docker);
      this.earlyPulls.set(id, startEarlyPull(engine, ref, credentialsFor(this.options.registry, ref)));
    }
    return this.earlyPulls;
  }

  async open(id: string, job: DeployJob, log: Log): Promise<MemberDeploy> {
    const { project, keepReleases, registry } = this.options;
    return new HostDeploy(this.host(id), await this.connect(id), {
      project,
      environment: this.environment,
      keepReleases,
      registry,
      job,
      log,
      proxy: this.plan.proxy,
      early: this.earlyPulls.get(id),
    });
  }

  async lock(fields: LockFields, watch?: LeaseWatch): Promise<{ tookOver: LockInfo[] }> {
    return this.environmentLock.lock(
      [...this.connected].map(([id, connection]) => ({ id, exec: connection.exec.bind(connection) })),
      fields,
      watch,
    );
  }

  unlock(): Promise<void> {
    return this.environmentLock.unlock();
  }

  async changes(id: string, release: Release): Promise<MemberChanges> {
    const host = this.host(id);
    const connection = await this.connect(id);
    const { docker } = connection;
    const ref = releaseRef(release);
    const resolves = host.address.kind !== 'local' && host.services.some(runsRelease);
    const [view, digest, proxy] = await Promise.all([
      this.pending(id).then((pending) => observeHost(docker, host, this.options.project, pending)),
      resolves
        ? registryDigest(docker, ref, credentialsFor(this.options.registry, ref)).catch((error: Error) => {
            throw new Error(`cannot resolve ${ref}: ${error.message}`);
          })
        : undefined,
      host.services.some((svc) => svc.proxy) ? describeProxy(this.proxyOf(id, docker), host.services, this.plan.proxy.image) : undefined,
    ]);
    return {
      services: host.services,
      changes: planChanges(host.services, observedServices(view.current), leftoverCounts(view)),
      ...(digest ? { digest } : {}),
      ...(proxy ? { proxy } : {}),
    };
  }

  async status(id: string): Promise<ServiceStatus[]> {
    const connection = await this.connect(id);
    const unverified = new Set((await this.pending(id))?.unverified ?? []);
    const { services } = this.host(id);
    const [statuses, proxy] = await Promise.all([
      Promise.all(services.map((svc) => this.serviceStatus(connection, svc, unverified))),
      services.some((svc) => svc.proxy) ? proxyStatus(this.proxyOf(id, connection.docker), this.options.project) : undefined,
    ]);
    return statuses.map((status) =>
      proxy && services.find((svc) => svc.service === status.service)?.proxy ? { ...status, proxy: proxy(status) } : status,
    );
  }

  /** The host's proxy, for a read-only look. */
  private proxyOf(id: string, docker: HostConnection['docker']): HostProxy {
    return new HostProxy(docker, id, this.plan.proxy, () => {});
  }

  /** Containers of deploys in `unverified` (a pending record's) are shown as such, and not counted as kept releases. */
  private async serviceStatus(connection: HostConnection, svc: ServicePlan, unverified: ReadonlySet<string>): Promise<ServiceStatus> {
    const { docker } = connection;
    const info = await docker
      .getContainer(svc.container)
      .inspect()
      .catch(() => undefined);
    const all = await keptContainers(docker, this.options.project, svc.service, svc.container);
    const leftovers =
      all.filter((c) => unverified.has(c.Labels[DEPLOY_LABEL] ?? '')).length +
      (unverified.has(info?.Config.Labels?.[DEPLOY_LABEL] ?? '') ? 1 : 0);
    const left = leftovers > 0 ? { leftovers } : {};
    if (!info) return { service: svc.service, deployed: false, ...left };
    const label = (name: string) => info.Config.Labels?.[`${LABEL_PREFIX}${name}`];
    const digest =
      label('digest') ??
      (
        await docker
          .getImage(info.Image)
          .inspect()
          .catch(() => undefined)
      )?.RepoDigests?.[0]?.split('@')[1];
    const kept = svc.redeploy ? all.filter((c) => !unverified.has(c.Labels[DEPLOY_LABEL] ?? '')).length : 0;
    return {
      ...left,
      ...(unverified.has(label('deploy') ?? '') ? { unverified: true } : {}),
      service: svc.service,
      deployed: true,
      tag: label('tag') ?? info.Config.Image,
      ...(digest ? { digest } : {}),
      ...(label('commit') ? { commit: label('commit') } : {}),
      since: info.State.StartedAt.replace(/\.\d+Z$/, 'Z'),
      health: await healthNow(docker, docker.getContainer(info.Id), svc, (address, port) => connection.openTcp(address, port)),
      containerId: info.Id,
      ...(label('deployed-by') ? { deployedBy: label('deployed-by') } : {}),
      kept,
    };
  }

  async readLock(id: string): Promise<LockInfo | undefined> {
    const connection = await this.connect(id);
    return readLock(connection.exec.bind(connection), lockDir(this.options.project, this.environment));
  }

  async pending(id: string): Promise<PendingDeploy | undefined> {
    const connection = await this.connect(id);
    return readPending(connection.exec.bind(connection), pendingPath(this.options.project, this.environment));
  }

  async breakLock(id: string): Promise<void> {
    const connection = await this.connect(id);
    await removeLock(connection.exec.bind(connection), lockDir(this.options.project, this.environment), 'force');
  }

  urls(): ServiceUrl[] {
    return this.plan.hosts.flatMap((host) =>
      host.services.flatMap((svc) => {
        const url = serviceUrl(host, svc);
        return url ? [{ host: host.address.id, service: svc.service, url }] : [];
      }),
    );
  }

  releaseMember(service: string): TargetMember | undefined {
    return this.members.find((member) => member.id === this.plan.primary[service]);
  }

  logs(id: string, request: LogsRequest, onLine: (line: LogLine) => void): Promise<void> {
    return this.onService(id, request.service, (docker, svc) => serviceLogs(docker, svc, request, onLine));
  }

  exec(id: string, request: ExecRequest): Promise<number> {
    return this.onService(id, request.service, (docker, svc) => serviceExec(docker, svc, request));
  }

  /** Work on a service of a host; a failure names the host. */
  private async onService<T>(
    id: string,
    service: string,
    work: (docker: HostConnection['docker'], svc: ServicePlan) => Promise<T>,
  ): Promise<T> {
    const svc = this.host(id).services.find((s) => s.service === service);
    if (!svc) throw new HostError(id, `${service} does not run on this host`);
    const { docker } = await this.connect(id);
    return work(docker, svc).catch((error: unknown) => {
      throw error instanceof HostError
        ? error
        : new HostError(id, error instanceof PipelineError ? error.message : engineMessage(error), { cause: error });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.environmentLock.unlock();
    await Promise.allSettled([...this.connected.values()].map((connection) => connection.close()));
  }
}

/** Where people reach a service that publishes its health check port (or its first port). */
function serviceUrl(host: HostPlan, service: ServicePlan): string | undefined {
  const containerPort = service.healthcheck?.http?.port ?? Number(service.ports[0]?.split('/')[0]?.split(':').at(-1));
  const port = publishedPort(service.ports, containerPort);
  if (!port) return undefined;
  const address =
    host.address.kind === 'local' ? '127.0.0.1' : host.address.host.includes(':') ? `[${host.address.host}]` : host.address.host;
  return `http://${address}:${port}${service.healthcheck?.http?.path ?? '/'}`;
}
