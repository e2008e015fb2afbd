import type Docker from 'dockerode';
import { registryDigest } from '../../adapters/docker.js';
import type { HostConnection } from '../../adapters/ports.js';
import type { ServiceResult } from '../../core/changes.js';
import { runsRelease } from '../../core/plan.js';
import { credentialsFor, type RegistryAccess } from '../../core/registry.js';
import { type Release, releaseRef } from '../../core/release.js';
import { nextHistory, planSwarmChanges, rollbackTarget, type SwarmChange } from '../../core/swarm-changes.js';
import {
  nodeNames,
  nodesOf,
  placementProblems,
  type ServiceImage,
  type SwarmNode,
  type SwarmPlan,
  type SwarmServicePlan,
  serviceImageOf,
  serviceSpec,
} from '../../core/swarm-spec.js';
import { delay } from '../../core/time.js';
import { HostError, StageError } from '../../errors.js';
import { engineCall } from '../engine-call.js';
import type { DeployJob, Log, MemberDeploy, ReleaseCommand } from '../target.js';
import {
  checkManager,
  createService,
  type EngineService,
  ensureNetwork,
  inspectService,
  readNodes,
  readServices,
  removeService,
  type ServiceAuth,
  type ServiceRecord,
  updateService,
} from './engine.js';
import { type NodePulls, pullOnNodes } from './node-pull.js';
import { runManagerRelease } from './one-off.js';
import { followService, type RolloutKind, taskSnapshot, verifyTasks } from './rollout.js';

export interface SwarmDeployOptions {
  keepReleases: number;
  parallel: number;
  registry: RegistryAccess | undefined;
  /** A connection to a node by its swarm address (for pullWithoutAuth). */
  connectNode(address: string): Promise<HostConnection>;
  job: DeployJob;
  log: Log;
  sleep?: (ms: number) => Promise<void>;
}

/** A service this deploy asked Swarm to change: what to undo, unless Swarm already rolled it back. */
interface Switched {
  svc: SwarmServicePlan;
  id: string;
  kind: 'create' | 'update';
  rolledBackBySwarm?: boolean;
}

/**
 * The swarm's part of a deploy, run on its manager: Swarm schedules, pulls and rolls out; the deploy hands it each
 * service's spec, follows the rollout task by task, and asks Swarm to roll back what it changed when anything fails.
 */
export class SwarmDeploy implements MemberDeploy {
  readonly id: string;
  readonly results: ServiceResult[] = [];
  private readonly docker: Docker;
  private readonly sleep: (ms: number) => Promise<void>;
  private managerNode = '';
  private nodes: SwarmNode[] = [];
  private names = new Map<string, string>();
  private services = new Map<string, ServiceRecord>();
  private changes: SwarmChange[] = [];
  private readonly images = new Map<string, ServiceImage>();
  private readonly switched: Switched[] = [];
  /** The nodes each changed service's tasks run on, once verified. */
  readonly taskNodes = new Map<string, string[]>();

  constructor(
    readonly plan: SwarmPlan,
    private readonly connection: HostConnection,
    private readonly options: SwarmDeployOptions,
  ) {
    this.id = plan.manager.id;
    this.docker = connection.docker;
    this.sleep = options.sleep ?? delay;
  }

  private get release(): Release {
    const { release } = this.options.job;
    if (!release) throw new StageError('no release to deploy');
    return release;
  }

  /** Where each service's tasks run now, for the addresses printed after a deploy. */
  get nodeList(): readonly SwarmNode[] {
    return this.nodes;
  }

  private async observe(): Promise<void> {
    [this.nodes, this.services] = await Promise.all([readNodes(this.docker, this.id), readServices(this.docker, this.id, this.plan)]);
    this.names = nodeNames(this.nodes);
    this.changes = planSwarmChanges(this.plan.services, new Map([...this.services].map(([service, record]) => [service, record.observed])));
  }

  async preflight(resolveDigest: boolean): Promise<string | undefined> {
    this.managerNode = await checkManager(this.docker, this.id);
    await this.observe();
    const foreign = [...this.services.values()]
      .filter((r) => r.observed.environment !== undefined && r.observed.environment !== this.plan.environment)
      .map(
        (r) => `${r.raw.Spec.Name} belongs to environment ${r.observed.environment}: a swarm runs one environment of ${this.plan.project}`,
      );
    const problems = [...placementProblems(this.plan, this.nodes), ...foreign];
    if (problems.length > 0) throw new HostError(this.id, problems.join('; '));
    if (!resolveDigest || !this.options.job.release || !this.plan.services.some(runsRelease)) return undefined;
    const ref = releaseRef(this.release);
    return engineCall(
      this.id,
      registryDigest(this.docker, ref, credentialsFor(this.options.registry, ref)),
      `resolving ${ref} in the registry`,
    );
  }

  private starting(): SwarmChange[] {
    return this.changes.filter((change) => change.action === 'create' || change.action === 'update');
  }

  private plannedService(service: string): SwarmServicePlan {
    return this.plan.services.find((svc) => svc.service === service)!;
  }

  /**
   * Reads the swarm again under the lock (what it runs now decides) and pins every image a service will get: the
   * release by its digest, a third-party image by the digest its registry gives now (as `docker stack deploy` does).
   * With pullWithoutAuth, the nodes pull them here, over SSH with the credentials, and Swarm never gets any.
   */
  async pull(): Promise<void> {
    if (!this.release.digest)
      throw new HostError(
        this.id,
        `the release ${releaseRef(this.release)} has no digest: a swarm pulls it from a registry (configure registry)`,
      );
    await this.observe();
    await Promise.all(
      this.starting().map(async (change) => {
        const svc = this.plannedService(change.service);
        this.images.set(
          svc.service,
          serviceImageOf(svc, this.release, runsRelease(svc) ? undefined : await this.thirdPartyDigest(svc.image!)),
        );
      }),
    );
    if (this.plan.pullWithoutAuth) {
      await pullOnNodes(
        this.nodePulls,
        this.starting().map((change) => ({ svc: this.plannedService(change.service), image: this.images.get(change.service)!.image })),
      );
    }
  }

  /** The release command, in a one-off container of the release on the manager's engine (see swarm/one-off.ts). */
  async runRelease(command: ReleaseCommand): Promise<void> {
    const svc = this.plannedService(command.service);
    const image = this.images.get(svc.service) ?? serviceImageOf(svc, this.release);
    const { registry, log, job } = this.options;
    await runManagerRelease({ id: this.id, docker: this.docker, registry, log }, svc, image, command, job);
  }

  private async thirdPartyDigest(image: string): Promise<string | undefined> {
    return registryDigest(this.docker, image, credentialsFor(this.options.registry, image)).catch((error: Error) => {
      this.options.log(`${image}: no digest from its registry (${error.message}); each node pulls the tag itself`);
      return undefined;
    });
  }

  /** What the nodes' pulls need of this deploy. */
  private get nodePulls(): NodePulls {
    const { registry, parallel, log, connectNode } = this.options;
    const base = { id: this.id, nodes: this.nodes, names: this.names, managerNode: this.managerNode, manager: this.connection };
    return { ...base, registry, parallel, log, connectNode };
  }

  private auth(image: string): ServiceAuth {
    return this.plan.pullWithoutAuth ? {} : credentialsFor(this.options.registry, image);
  }

  async switch(): Promise<void> {
    const networkId = await ensureNetwork(this.docker, this.id, this.plan.network, this.plan.project);
    const outcomes = await Promise.allSettled(
      this.changes.map(async (change): Promise<ServiceResult> => {
        if (this.options.job.signal.aborted) throw new StageError('stopped by a signal');
        const name = `${this.plan.project}_${change.service}`;
        if (change.action === 'remove')
          return { service: change.service, container: name, image: change.current?.image?.image ?? '', action: 'removed' };
        const svc = this.plannedService(change.service);
        if (change.action === 'leave') {
          this.options.log(`${svc.service}: running, left alone`);
          return { service: svc.service, container: name, image: change.current?.image?.image ?? svc.image ?? '', action: 'left running' };
        }
        const image = this.images.get(svc.service)!;
        const current = this.services.get(svc.service)?.raw;
        const spec = serviceSpec(svc, {
          ...this.specBase(svc, networkId, image),
          history: nextHistory(change.current, image, this.options.keepReleases),
          ...(change.force ? { forceUpdate: (current?.Spec.TaskTemplate?.ForceUpdate ?? 0) + 1 } : {}),
        });
        const outcome = await this.request(svc, current, spec, image);
        const action = !current ? 'created' : outcome.templateChanged ? 'updated' : 'left running';
        return {
          service: svc.service,
          container: svc.container,
          image: image.image,
          action,
          ...(image.digest ? { digest: image.digest } : {}),
        };
      }),
    );
    await this.settle(outcomes);
  }

  private specBase(svc: SwarmServicePlan, networkId: string, image: ServiceImage) {
    const { job } = this.options;
    return {
      project: this.plan.project,
      publish: this.plan.publish,
      image,
      nodes: this.nodes,
      networkId,
      secretEnv: job.secretEnv(svc.secrets),
      deployedBy: job.deployedBy,
      deployedAt: new Date().toISOString(),
    };
  }

  /** Creates the service or gives it the spec, then follows Swarm's rollout; a failure leaves the record for undo. */
  private async request(
    svc: SwarmServicePlan,
    current: EngineService | undefined,
    spec: ReturnType<typeof serviceSpec>,
    image: ServiceImage,
  ): Promise<{ templateChanged: boolean }> {
    const seen = current ? await taskSnapshot(this.docker, this.id, current, this.names, svc.service) : new Map<string, string>();
    let id: string;
    if (current) {
      this.options.log(`${svc.service}: updating ${spec.Name} to ${image.tag} (${image.digest?.slice(0, 19) ?? image.image})`);
      await updateService(this.docker, this.id, current, spec, this.auth(image.image));
      id = current.ID;
    } else {
      this.options.log(`${svc.service}: creating ${spec.Name} with ${image.tag} (${image.digest?.slice(0, 19) ?? image.image})`);
      id = await createService(this.docker, this.id, spec, this.auth(image.image));
    }
    return this.switchedTo(
      { svc, id, kind: current ? 'update' : 'create' },
      current ? 'update' : 'create',
      current?.UpdateStatus?.StartedAt,
      seen,
    );
  }

  /** Follows a service this deploy changed until it converged; a failure is left on the record for undo, and throws. */
  private async switchedTo(
    record: Switched,
    kind: 'create' | 'update' | 'rollback',
    startedAt: string | undefined,
    seen: Map<string, string>,
  ) {
    this.switched.push(record);
    const outcome = await this.follow(record, kind, startedAt, seen, this.options.job.signal);
    if (outcome.ok) return outcome;
    record.rolledBackBySwarm = outcome.rolledBack;
    throw new HostError(this.id, `${record.svc.service}: ${outcome.reason}`);
  }

  private follow(record: Switched, kind: RolloutKind, startedAt: string | undefined, seen: Map<string, string>, signal?: AbortSignal) {
    const view = { docker: this.docker, member: this.id, nodes: this.nodes, names: this.names, log: this.options.log, sleep: this.sleep };
    return followService(view, record.svc, record.id, { kind, seen, ...(startedAt ? { previousStartedAt: startedAt } : {}) }, signal);
  }

  private async settle(outcomes: PromiseSettledResult<ServiceResult>[]): Promise<void> {
    const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failure) {
      await this.undo();
      const error = failure.reason as Error;
      throw error instanceof HostError ? error : new HostError(this.id, error.message, { cause: error });
    }
    this.results.push(...outcomes.map((outcome) => (outcome as PromiseFulfilledResult<ServiceResult>).value));
  }

  /**
   * `pipeline rollback`: every redeployed service goes back to the release before the one it runs (or the one
   * deployed with `rollbackTo`), from the history its labels keep. When that release is the spec Swarm kept as the
   * previous one, Swarm's own rollback brings the whole spec back; else the release gets the current config's spec.
   */
  async switchBack(): Promise<void> {
    await this.observe();
    const networkId = await ensureNetwork(this.docker, this.id, this.plan.network, this.plan.project);
    const outcomes = await Promise.allSettled(this.plan.services.filter((svc) => svc.redeploy).map((svc) => this.restore(svc, networkId)));
    await this.settle(outcomes);
  }

  private async restore(svc: SwarmServicePlan, networkId: string): Promise<ServiceResult> {
    const to = this.options.job.rollbackTo;
    const current = this.services.get(svc.service);
    const found = current && rollbackTarget(current.observed.history, to);
    if (!current || !found)
      throw new HostError(this.id, `${svc.service}: no kept release${to === undefined ? '' : ` deployed with tag ${to}`} to roll back to`);
    const { raw } = current;
    if (this.plan.pullWithoutAuth) await pullOnNodes(this.nodePulls, [{ svc, image: found.target.image }]);
    const seen = await taskSnapshot(this.docker, this.id, raw, this.names, svc.service);
    const native = raw.PreviousSpec?.TaskTemplate?.ContainerSpec?.Image === found.target.image;
    this.options.log(
      `${svc.service}: rolling back to ${found.target.tag} (${found.target.digest?.slice(0, 19) ?? found.target.image})${native ? ', the previous spec' : ''}`,
    );
    if (native) await updateService(this.docker, this.id, raw, raw.Spec, undefined, true);
    else
      await updateService(
        this.docker,
        this.id,
        raw,
        serviceSpec(svc, { ...this.specBase(svc, networkId, found.target), history: found.history }),
        this.auth(found.target.image),
      );
    await this.switchedTo({ svc, id: raw.ID, kind: 'update' }, native ? 'rollback' : 'update', raw.UpdateStatus?.StartedAt, seen);
    return {
      service: svc.service,
      container: svc.container,
      image: found.target.image,
      action: 'rolled back',
      ...(found.target.digest ? { digest: found.target.digest } : {}),
    };
  }

  /** Checks that every service the deploy changed runs the pinned image on all its tasks. */
  async verify(): Promise<void> {
    await Promise.all(
      this.switched.map(async (record) => {
        const image = this.images.get(record.svc.service);
        if (!image) return;
        const service = await inspectService(this.docker, this.id, record.id);
        const desired = record.svc.redeploy ? record.svc.replicas : nodesOf(record.svc.roles, this.nodes).length;
        const running = await verifyTasks(this.docker, this.id, service, image.image, desired, record.svc.service);
        this.taskNodes.set(record.svc.service, [...new Set(running.flatMap((task) => (task.nodeId ? [task.nodeId] : [])))]);
      }),
    );
  }

  /** Swarm's rollback of every service this deploy changed, newest first; a service it created is removed. */
  async undo(): Promise<void> {
    while (this.switched.length > 0) {
      const record = this.switched.pop()!;
      if (record.rolledBackBySwarm) continue;
      const { svc } = record;
      if (record.kind === 'create') {
        await removeService(this.docker, this.id, record.id, svc.container);
        this.options.log(`${svc.service}: removed ${svc.container}`);
        continue;
      }
      const service = await inspectService(this.docker, this.id, record.id);
      const seen = await taskSnapshot(this.docker, this.id, service, this.names, svc.service);
      await updateService(this.docker, this.id, service, service.Spec, undefined, true);
      const outcome = await this.follow(record, 'rollback', service.UpdateStatus?.StartedAt, seen);
      if (!outcome.ok) throw new HostError(this.id, `${svc.service}: ${outcome.reason}`);
      this.options.log(`${svc.service}: rolled back to its previous spec`);
    }
    this.results.length = 0;
  }

  /** After a deploy: the services the config no longer has are removed (Swarm stops their tasks). */
  async finish(): Promise<void> {
    if (!this.options.job.release) return;
    await Promise.all(
      this.changes
        .filter((change) => change.action === 'remove')
        .map(async (change) => {
          const record = this.services.get(change.service)!;
          await removeService(this.docker, this.id, record.raw.ID, record.raw.Spec.Name).catch(() => undefined);
          this.options.log(`${change.service}: removed ${record.raw.Spec.Name} (no longer in the config)`);
        }),
    );
  }
}
