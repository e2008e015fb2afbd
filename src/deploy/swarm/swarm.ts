import { registryDigest } from '../../adapters/docker.js';
import type { HostConnection } from '../../adapters/ports.js';
import { type HostAddress, type HostDefaults, parseHost } from '../../core/hosts.js';
import type { LogLine } from '../../core/logs.js';
import { runsRelease } from '../../core/plan.js';
import { credentialsFor, type RegistryAccess } from '../../core/registry.js';
import { type Release, releaseRef } from '../../core/release.js';
import { asServiceChange, planSwarmChanges } from '../../core/swarm-changes.js';
import { describeUpdate } from '../../core/swarm-rollout.js';
import { DEPLOYED_BY, nodeNames, type SwarmPlan, type SwarmServicePlan, serviceUrls } from '../../core/swarm-spec.js';
import { HostError, StageError } from '../../errors.js';
import { engineCall } from '../engine-call.js';
import { EnvironmentLock, type LeaseWatch } from '../environment-lock.js';
import { type LockFields, type LockInfo, lockDir, readLock, removeLock } from '../lock.js';
import type {
  DeployJob,
  DeployTarget,
  ExecRequest,
  Log,
  LogsRequest,
  MemberChanges,
  MemberDeploy,
  ServiceStatus,
  ServiceUrl,
  TargetMember,
} from '../target.js';
import { checkManager, readNodes, readServices, readTasks, type ServiceRecord } from './engine.js';
import { SwarmDeploy } from './manager.js';
import { type SwarmOperate, swarmServiceExec, swarmServiceLogs } from './operate.js';

export interface SwarmOptions {
  parallel: number;
  keepReleases: number;
  lockTtlMs: number;
  registry: RegistryAccess | undefined;
  /** How nodes are reached over SSH (pullWithoutAuth): the config's ssh user and port. */
  ssh: HostDefaults;
  connect(address: HostAddress): Promise<HostConnection>;
}

/**
 * A Docker Swarm, reached through one manager over SSH like a fleet's host: its one member. Swarm schedules the
 * tasks, pulls on its nodes and rolls updates out; the lock lives on the manager.
 */
export class SwarmTarget implements DeployTarget {
  readonly environment: string;
  readonly members: readonly TargetMember[];
  private connecting: Promise<HostConnection> | undefined;
  private connection: HostConnection | undefined;
  private readonly environmentLock: EnvironmentLock;
  private deploy: SwarmDeploy | undefined;
  private closed = false;

  constructor(
    readonly plan: SwarmPlan,
    private readonly options: SwarmOptions,
  ) {
    this.environment = plan.environment;
    this.members = [{ id: plan.manager.id, roles: ['swarm manager'] }];
    this.environmentLock = new EnvironmentLock(plan.project, plan.environment, options.lockTtlMs);
  }

  private get id(): string {
    return this.plan.manager.id;
  }

  private connect(): Promise<HostConnection> {
    this.connecting ??= (async () => {
      const connection = await this.options.connect(this.plan.manager);
      if (this.closed) {
        await connection.close();
        throw new StageError('stopped');
      }
      this.connection = connection;
      await engineCall(this.id, connection.docker.version(), 'Docker engine not answering');
      return connection;
    })();
    return this.connecting;
  }

  prepare(): void {
    this.connect().catch(() => undefined);
  }

  async open(_id: string, job: DeployJob, log: Log): Promise<MemberDeploy> {
    const connection = await this.connect();
    const { keepReleases, parallel, registry, ssh, connect } = this.options;
    this.deploy = new SwarmDeploy(this.plan, connection, {
      keepReleases,
      parallel,
      registry,
      job,
      log,
      connectNode: (address) => connect(parseHost(address, ssh)),
    });
    return this.deploy;
  }

  async lock(fields: LockFields, watch?: LeaseWatch): Promise<{ tookOver: LockInfo[] }> {
    const connection = await this.connect();
    return this.environmentLock.lock([{ id: this.id, exec: connection.exec.bind(connection) }], fields, watch);
  }

  unlock(): Promise<void> {
    return this.environmentLock.unlock();
  }

  async changes(_id: string, release: Release): Promise<MemberChanges> {
    const { docker } = await this.connect();
    await checkManager(docker, this.id);
    const ref = releaseRef(release);
    const [services, digest] = await Promise.all([
      readServices(docker, this.id, this.plan),
      this.plan.services.some(runsRelease)
        ? registryDigest(docker, ref, credentialsFor(this.options.registry, ref)).catch((error: Error) => {
            throw new Error(`cannot resolve ${ref}: ${error.message}`);
          })
        : undefined,
    ]);
    const changes = planSwarmChanges(this.plan.services, new Map([...services].map(([service, record]) => [service, record.observed])));
    return { services: this.plan.services, changes: changes.map(asServiceChange), ...(digest ? { digest } : {}) };
  }

  async status(_id: string): Promise<ServiceStatus[]> {
    const { docker } = await this.connect();
    await checkManager(docker, this.id);
    const [nodes, services] = await Promise.all([readNodes(docker, this.id), readServices(docker, this.id, this.plan)]);
    const names = nodeNames(nodes);
    return Promise.all(this.plan.services.map((svc) => this.serviceStatus(svc, services.get(svc.service), names)));
  }

  private async serviceStatus(
    svc: SwarmServicePlan,
    record: ServiceRecord | undefined,
    names: ReadonlyMap<string, string>,
  ): Promise<ServiceStatus> {
    if (!record) return { service: svc.service, deployed: false };
    const { raw, observed } = record;
    const tasks = await readTasks(this.connection!.docker, this.id, raw);
    const running = tasks.filter((task) => task.desired === 'running' && task.state === 'running');
    const { image } = observed;
    const deployedBy = raw.Spec.Labels?.[DEPLOYED_BY];
    return {
      service: svc.service,
      deployed: true,
      ...(image ? { tag: image.tag } : {}),
      ...(image?.digest ? { digest: image.digest } : {}),
      ...(image?.commit ? { commit: image.commit } : {}),
      ...(raw.UpdatedAt ? { since: raw.UpdatedAt.replace(/\.\d+Z$/, 'Z') } : {}),
      health: describeUpdate(raw.UpdateStatus, running.length, observed.desired),
      ...(deployedBy ? { deployedBy } : {}),
      kept: observed.history.length,
      replicas: { running: running.length, desired: observed.desired },
      nodes: [...new Set(running.map((task) => names.get(task.nodeId ?? '') ?? task.nodeId ?? '?'))].sort(),
    };
  }

  async readLock(_id: string): Promise<LockInfo | undefined> {
    const connection = await this.connect();
    return readLock(connection.exec.bind(connection), lockDir(this.plan.project, this.environment));
  }

  async breakLock(_id: string): Promise<void> {
    const connection = await this.connect();
    await removeLock(connection.exec.bind(connection), lockDir(this.plan.project, this.environment), 'force');
  }

  /** A release command runs on the manager's engine, in a one-off container of the release (see swarm/one-off.ts). */
  releaseMember(service: string): TargetMember | undefined {
    return this.plan.services.some((svc) => svc.service === service) ? this.members[0] : undefined;
  }

  logs(_id: string, request: LogsRequest, onLine: (line: LogLine) => void): Promise<void> {
    return this.onService(request.service, (ctx, svc) => swarmServiceLogs(ctx, svc, request, onLine));
  }

  exec(_id: string, request: ExecRequest): Promise<number> {
    return this.onService(request.service, (ctx, svc) => swarmServiceExec(ctx, svc, request));
  }

  /** Works on a service of the swarm through the manager; a failure names the manager. */
  private async onService<T>(service: string, work: (ctx: SwarmOperate, svc: SwarmServicePlan) => Promise<T>): Promise<T> {
    const svc = this.plan.services.find((s) => s.service === service);
    if (!svc) throw new StageError(`${service} is not a service of ${this.environment}`);
    const { docker } = await this.connect();
    const managerNode = await checkManager(docker, this.id);
    const { registry, ssh, connect } = this.options;
    const ctx = { id: this.id, docker, registry, managerNode, log: () => undefined };
    return work({ ...ctx, connectNode: (address) => connect(parseHost(address, ssh)) }, svc).catch((error: Error) => {
      throw error instanceof HostError ? error : new HostError(this.id, error.message, { cause: error });
    });
  }

  /** Where people reach the services after a deploy: each node that runs a task (host mode), or the manager (ingress). */
  urls(): ServiceUrl[] {
    if (!this.deploy) return [];
    return serviceUrls(this.plan, this.deploy.taskNodes, this.deploy.nodeList);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.environmentLock.unlock();
    await this.connection?.close();
  }
}
