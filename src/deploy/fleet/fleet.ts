import { hasImage, pullImage, registryDigest } from '../../adapters/docker.js';
import { healthNow } from '../../adapters/health.js';
import type { HostConnection } from '../../adapters/ports.js';
import { keptContainers } from '../../adapters/service.js';
import { planChanges } from '../../core/changes.js';
import type { HostAddress } from '../../core/hosts.js';
import { type DeployPlan, type HostPlan, LABEL_PREFIX, publishedPort, runsRelease, type ServicePlan } from '../../core/plan.js';
import { credentialsFor, type RegistryAccess } from '../../core/registry.js';
import { Relay } from '../../core/relay.js';
import { type Release, releaseRef } from '../../core/release.js';
import { withTimeout } from '../../core/time.js';
import { StageError } from '../../errors.js';
import { EnvironmentLock } from '../environment-lock.js';
import { type LockFields, type LockInfo, lockDir, readLock, removeLock } from '../lock.js';
import type {
  DeployJob,
  DeployTarget,
  EarlyPull,
  Log,
  MemberChanges,
  MemberDeploy,
  ServiceStatus,
  ServiceUrl,
  TargetMember,
} from '../target.js';
import { engineCall, HostDeploy, PULL_TIMEOUT_MS } from './host.js';
import { observedServices, observeHost } from './observe.js';

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
      const relay = new Relay();
      const done = this.connect(id)
        .then(async ({ docker }) => {
          if (await hasImage(docker, ref)) return relay.write(`${ref.split('@')[1]!.slice(0, 19)} is here already`);
          relay.write(`pulling ${ref} (untagged until the tests pass)`);
          await withTimeout(
            pullImage(docker, ref, credentialsFor(this.options.registry, ref), relay.write),
            PULL_TIMEOUT_MS,
            `pulling ${ref}`,
          );
        })
        .finally(() => relay.end());
      done.catch(() => undefined);
      this.earlyPulls.set(id, { ref, done, follow: (log) => relay.follow(log) });
    }
    return this.earlyPulls;
  }

  async open(id: string, job: DeployJob, log: Log): Promise<MemberDeploy> {
    const { project, keepReleases, registry } = this.options;
    return new HostDeploy(this.host(id), await this.connect(id), {
      project,
      keepReleases,
      registry,
      job,
      log,
      early: this.earlyPulls.get(id),
    });
  }

  async lock(fields: LockFields): Promise<{ tookOver: LockInfo[] }> {
    return this.environmentLock.lock(
      [...this.connected].map(([id, connection]) => ({ id, exec: connection.exec.bind(connection) })),
      fields,
    );
  }

  unlock(): Promise<void> {
    return this.environmentLock.unlock();
  }

  async changes(id: string, release: Release): Promise<MemberChanges> {
    const host = this.host(id);
    const { docker } = await this.connect(id);
    const ref = releaseRef(release);
    const resolves = host.address.kind !== 'local' && host.services.some(runsRelease);
    const [current, digest] = await Promise.all([
      observeHost(docker, host, this.options.project),
      resolves
        ? registryDigest(docker, ref, credentialsFor(this.options.registry, ref)).catch((error: Error) => {
            throw new Error(`cannot resolve ${ref}: ${error.message}`);
          })
        : undefined,
    ]);
    return { services: host.services, changes: planChanges(host.services, observedServices(current)), ...(digest ? { digest } : {}) };
  }

  async status(id: string): Promise<ServiceStatus[]> {
    const connection = await this.connect(id);
    return Promise.all(this.host(id).services.map((svc) => this.serviceStatus(connection, svc)));
  }

  private async serviceStatus(connection: HostConnection, svc: ServicePlan): Promise<ServiceStatus> {
    const { docker } = connection;
    const info = await docker
      .getContainer(svc.container)
      .inspect()
      .catch(() => undefined);
    if (!info) return { service: svc.service, deployed: false };
    const label = (name: string) => info.Config.Labels?.[`${LABEL_PREFIX}${name}`];
    const digest =
      label('digest') ??
      (
        await docker
          .getImage(info.Image)
          .inspect()
          .catch(() => undefined)
      )?.RepoDigests?.[0]?.split('@')[1];
    const kept = svc.redeploy ? (await keptContainers(docker, this.options.project, svc.service, svc.container)).length : 0;
    return {
      service: svc.service,
      deployed: true,
      tag: label('tag') ?? info.Config.Image,
      ...(digest ? { digest } : {}),
      ...(label('commit') ? { commit: label('commit') } : {}),
      since: info.State.StartedAt.replace(/\.\d+Z$/, 'Z'),
      health: await healthNow(docker, docker.getContainer(info.Id), svc, (address, port) => connection.openTcp(address, port)),
      ...(label('deployed-by') ? { deployedBy: label('deployed-by') } : {}),
      kept,
    };
  }

  async readLock(id: string): Promise<LockInfo | undefined> {
    const connection = await this.connect(id);
    return readLock(connection.exec.bind(connection), lockDir(this.options.project, this.environment));
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.environmentLock.unlock();
    await Promise.allSettled([...this.connected.values()].map((connection) => connection.close()));
  }
}

/** Where people reach a service that publishes its health check port (or its first port). */
function serviceUrl(host: HostPlan, service: ServicePlan): string | undefined {
  const containerPort = service.healthcheck?.http?.port ?? Number(service.ports[0]?.split('/')[0]!.split(':').at(-1));
  const port = publishedPort(service.ports, containerPort);
  if (!port) return undefined;
  const address =
    host.address.kind === 'local' ? '127.0.0.1' : host.address.host.includes(':') ? `[${host.address.host}]` : host.address.host;
  return `http://${address}:${port}${service.healthcheck?.http?.path ?? '/'}`;
}
