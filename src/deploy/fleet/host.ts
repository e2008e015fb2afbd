import type Docker from 'dockerode';
import { hasImage, registryDigest } from '../../adapters/docker.js';
import { waitHealthy } from '../../adapters/health.js';
import type { HostConnection } from '../../adapters/ports.js';
import { containerSpec, ensureVolumes, RUNNING_RESTART_POLICY, startContainer, stopContainer } from '../../adapters/service.js';
import { planChanges, type ServiceChange, type ServiceResult } from '../../core/changes.js';
import {
  type HostPlan,
  LABEL_PREFIX,
  type ProxyPlan,
  releaseLabels,
  runsRelease,
  type ServicePlan,
  serviceImage,
} from '../../core/plan.js';
import { servicePorts } from '../../core/proxy.js';
import { credentialsFor, type RegistryAccess } from '../../core/registry.js';
import { pinnedRef, type Release, releaseRef } from '../../core/release.js';
import { delay } from '../../core/time.js';
import { HostError, StageError } from '../../errors.js';
import { engineCall } from '../engine-call.js';
import { runReleaseCommand } from '../one-off.js';
import { pendingPath } from '../pending.js';
import { stopReason } from '../phase.js';
import { pullOn } from '../pull.js';
import type { DeployJob, EarlyPull, Log, MemberDeploy, ReleaseCommand } from '../target.js';
import { type CutoverHost, cutOver, retire, type Switch, serveVerifiedAgain, unroute } from './cutover.js';
import { hasRelease } from './early-pull.js';
import { containerLabels } from './labels.js';
import { type CurrentContainer, type HostView, holdsHostPorts, leftoverCounts, observedServices, observeHost } from './observe.js';
import { HostProxy } from './proxy.js';
import { pruneHost, removeContainer } from './prune.js';
import { HostRecovery } from './recovery.js';
import { keptRelease, type RestoreHost, restart, resume, verifyRelease } from './restore.js';

export interface HostDeployOptions {
  project: string;
  environment: string;
  keepReleases: number;
  registry: RegistryAccess | undefined;
  job: DeployJob;
  log: Log;
  proxy: ProxyPlan;
  sleep?: (ms: number) => Promise<void>;
  /** The pull of the release this host began while the tests ran, if it did. */
  early?: EarlyPull;
}

/**
 * One host's part of a deploy: preflight, pull, switch (each service: keep the old container stopped,
 * start the new one, wait until healthy), verify, finish; and the undo of its switch.
 */
export class HostDeploy implements MemberDeploy {
  readonly id: string;
  readonly results: ServiceResult[] = [];
  private readonly switched: Switch[] = [];
  private current = new Map<string, CurrentContainer>();
  private view: HostView = { current: this.current, leftovers: [] };
  private readonly recovery: HostRecovery;
  private changes: ServiceChange[] = [];
  private readonly docker: Docker;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly proxy: HostProxy;

  constructor(
    readonly plan: HostPlan,
    private readonly connection: HostConnection,
    private readonly options: HostDeployOptions,
  ) {
    this.id = plan.address.id;
    this.docker = connection.docker;
    this.sleep = options.sleep ?? delay;
    this.proxy = new HostProxy(this.docker, this.id, options.proxy, options.log);
    this.recovery = new HostRecovery({
      docker: this.docker,
      exec: connection.exec.bind(connection),
      path: pendingPath(options.project, options.environment),
      project: options.project,
      api: (promise, what) => this.api(promise, what),
      log: options.log,
      graceMs: (service) => plan.services.find((svc) => svc.service === service)?.stopGraceMs ?? 10_000,
    });
  }

  private get local(): boolean {
    return this.plan.address.kind === 'local';
  }

  private get release(): Release {
    const { release } = this.options.job;
    if (!release) throw new StageError('no release to deploy');
    return release;
  }

  private api<T>(promise: Promise<T>, what: string): Promise<T> {
    return engineCall(this.id, promise, what);
  }

  /**
   * Reads what runs (the change planner's input), an interrupted deploy's leftovers set aside, and decides what the
   * deploy does to each service.
   */
  private async observe(): Promise<void> {
    const pending = this.recovery.read(); // read while the containers are
    this.view = await this.api(observeHost(this.docker, this.plan, this.options.project, pending), 'reading the containers');
    this.current = this.view.current;
    this.changes = planChanges(this.plan.services, observedServices(this.current), leftoverCounts(this.view));
  }

  private change(service: string): ServiceChange {
    return this.changes.find((change) => change.service === service)!;
  }

  /** What runs is read under the lock (pull, switchBack): preflight checks that the release can be had, and the proxy. */
  async preflight(resolveDigest: boolean): Promise<string | undefined> {
    if (this.plan.services.some((svc) => svc.proxy)) await this.proxy.check();
    if (!resolveDigest || !this.plan.services.some(runsRelease)) return undefined;
    const ref = releaseRef(this.release);
    if (this.local) {
      if (!(await hasImage(this.docker, ref)) && !this.options.registry)
        throw new HostError(this.id, `image ${ref} is not on the runner's Docker engine and no registry is configured`);
      return undefined;
    }
    return this.api(registryDigest(this.docker, ref, credentialsFor(this.options.registry, ref)), `resolving ${ref} in the registry`);
  }

  /**
   * Pulls what the switch starts: the release by its digest (tagged locally with its tag), and missing third-party
   * images. The host is read again first, under the lock: what it runs now decides. An image the engine already has
   * by that digest is the release itself: it is not pulled again.
   */
  async pull(): Promise<void> {
    const release = this.release;
    const pinned = !this.local && release.digest ? pinnedRef(release) : undefined;
    // Whether the host has the release (pulled while the tests ran, or before) is asked while the host is read.
    const present = pinned ? hasRelease(this.docker, this.options.early, pinned, this.options.log) : undefined;
    await this.observe();
    const starting = this.plan.services.filter((svc) => ['start', 'replace'].includes(this.change(svc.service).action));
    const images = new Set(starting.map((svc) => serviceImage(svc, release)));
    if (starting.some((svc) => svc.proxy)) images.add(this.options.proxy.image);
    await Promise.all(
      [...images].map(async (image) => {
        const own = image === releaseRef(release);
        if (own && pinned) {
          if (!(await present)) await this.pullRef(pinned);
          await this.api(this.docker.getImage(pinned).tag({ repo: release.repository, tag: release.tag }), `tagging ${pinned}`);
        } else if (!(await hasImage(this.docker, image))) {
          await this.pullRef(image);
        }
      }),
    );
  }

  private async pullRef(ref: string): Promise<void> {
    await pullOn(this.docker, ref, credentialsFor(this.options.registry, ref), this.options.log).catch((error: Error) => {
      throw new HostError(this.id, error.message, { cause: error });
    });
  }

  async runRelease(command: ReleaseCommand): Promise<void> {
    const svc = this.plan.services.find((s) => s.service === command.service);
    if (!svc) throw new HostError(this.id, `${command.service} does not run on this host`);
    const { job, log } = this.options;
    const labels = { ...releaseLabels(svc, this.release), [`${LABEL_PREFIX}deployed-by`]: job.deployedBy };
    await runReleaseCommand(
      { docker: this.docker, svc, image: serviceImage(svc, this.release), secretEnv: job.secretEnv(svc.secrets), labels },
      command,
      log,
      job.signal,
    ).catch((error: Error) => {
      throw new HostError(this.id, error.message, { cause: error });
    });
  }

  async switch(): Promise<void> {
    const { job, environment } = this.options;
    await serveVerifiedAgain(this.cutover, this.view, this.plan.services);
    await this.recovery.start(
      { id: job.id, environment, tag: this.release.tag, deployedBy: job.deployedBy, startedAt: new Date().toISOString() },
      this.view,
    );
    await this.readyProxy();
    // The services of a host are separate containers: they switch at once, each waiting for its own health.
    const outcomes = await Promise.allSettled(
      this.changes.map(async (change): Promise<ServiceResult> => {
        if (this.options.job.signal.aborted) throw stopReason(this.options.job.signal);
        const svc = this.plan.services.find((s) => s.service === change.service);
        if (!svc) return retire(this.cutover, this.current.get(change.service)!, change.service, this.switched);
        if (change.action !== 'leave') return this.switchService(svc);
        this.options.log(`${svc.service}: already running, left alone`);
        return { service: svc.service, container: svc.container, image: serviceImage(svc, this.release), action: 'left running' };
      }),
    );
    await this.settle(outcomes);
  }

  /**
   * Starts the host's proxy, or has it listen on the ports this deploy adds, before any service switches; ports still
   * published by a service's own old container (deployed before it was proxied) are added once it has let go of them.
   */
  private async readyProxy(): Promise<void> {
    const proxied = this.plan.services.filter((svc) => svc.proxy && this.change(svc.service).action !== 'leave');
    const free = proxied.filter((svc) => !this.current.get(svc.service) || !holdsHostPorts(this.current.get(svc.service)!));
    if (free.length > 0) await this.proxy.ensure(free.flatMap(servicePorts));
  }

  /** Records the outcomes, or puts the host back and throws the first failure. */
  private async settle(outcomes: PromiseSettledResult<ServiceResult>[]): Promise<void> {
    const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failure) {
      await this.undo().catch(() => undefined); // what is left undone, the environment's undo tries again and names
      const error = failure.reason as Error;
      throw error instanceof HostError ? error : new HostError(this.id, error.message, { cause: error });
    }
    this.results.push(...outcomes.map((outcome) => (outcome as PromiseFulfilledResult<ServiceResult>).value));
  }

  /**
   * Puts a new container in place of the service's. One that starts first (proxied, or binding no fixed host port)
   * is started beside the old one (see cutover.ts); for any other the old one is renamed out of the way and stopped
   * while the new one is created, so the service is down only from the old one's stop to the new one's start.
   */
  private async switchService(svc: ServicePlan): Promise<ServiceResult> {
    const { log } = this.options;
    const old = this.current.get(svc.service);
    const image = serviceImage(svc, this.release);
    const record: Switch = { plan: svc, svc, keptWasRunning: Boolean(old?.observed.running) };
    this.switched.push(record);
    const labels = await containerLabels(this.docker, svc, this.release, this.options.job, (promise, what) => this.api(promise, what));
    const create = () =>
      this.api(ensureVolumes(this.docker, svc), `creating the volumes of ${svc.container}`)
        .then(() =>
          this.api(
            this.docker.createContainer(containerSpec(svc, image, this.options.job.secretEnv(svc.secrets), labels)),
            `creating ${svc.container}`,
          ),
        )
        .then((created) => {
          record.created = created.id;
          return created;
        });
    const replace = this.change(svc.service).action === 'replace';
    const bringUp = async (container: Docker.Container) => {
      await this.api(container.start(), `starting ${svc.container}`);
      log(`${svc.service}: started ${image}, waiting until healthy`);
      await this.healthy(container, svc);
      await this.api(container.update({ RestartPolicy: RUNNING_RESTART_POLICY }), `setting the restart policy of ${svc.container}`);
      log(`${svc.service}: healthy`);
    };
    // A redeploy:false service that is not running is replaced, not kept: there is no release to return to.
    if (old && !replace) await this.api(this.docker.getContainer(old.info.Id).remove({ force: true }), `removing stopped ${svc.container}`);
    await cutOver(this.cutover, record, replace ? old : undefined, create, bringUp);
    return {
      service: svc.service,
      container: svc.container,
      image,
      action: replace ? 'replaced' : 'started',
      ...(runsRelease(svc) && this.release.digest ? { digest: this.release.digest } : {}),
    };
  }

  private healthy(container: Docker.Container, svc: ServicePlan): Promise<void> {
    const { log, job } = this.options;
    return waitHealthy(this.docker, container, svc, {
      openTcp: (address, port) => this.connection.openTcp(address, port),
      log,
      sleep: this.sleep,
      signal: job.signal,
    });
  }

  /**
   * `pipeline rollback`: brings back, for every redeployed service, the newest kept release (or the one deployed with
   * the tag `rollbackTo`), health-checked. On failure this host's services are put back as they were before it throws.
   */
  async switchBack(): Promise<void> {
    const { job } = this.options;
    try {
      await this.observe(); // under the lock now
      // After a deploy that died here, the release it was replacing is the one to come back (see resume).
      const previous = this.view.pending?.previous ?? {};
      const resumed = new Set(
        [...this.current].filter(([service, current]) => previous[service]?.id === current.info.Id).map(([service]) => service),
      );
      await serveVerifiedAgain(this.cutover, this.view, this.plan.services);
      await this.recovery.recover(this.view);
      for (const svc of this.plan.services.filter((s) => s.redeploy)) {
        if (job.signal.aborted) throw stopReason(job.signal);
        this.results.push(
          resumed.has(svc.service) && job.rollbackTo === undefined
            ? await resume(this.restoring, svc, this.current.get(svc.service)!)
            : await this.restore(svc, job.rollbackTo),
        );
      }
    } catch (error) {
      await this.undo().catch(() => undefined);
      throw error instanceof HostError ? error : new HostError(this.id, (error as Error).message, { cause: error });
    }
  }

  private async restore(svc: ServicePlan, to: string | undefined): Promise<ServiceResult> {
    const target = await keptRelease(this.restoring, svc, to);
    const current = this.current.get(svc.service);
    const record: Switch = { plan: svc, svc, keptWasRunning: Boolean(current?.observed.running), restoredFrom: target.Names[0]!.slice(1) };
    this.switched.push(record);
    const container = this.docker.getContainer(target.Id);
    const bringBack = async () => {
      await this.api(container.rename({ name: svc.container }), `restoring ${record.restoredFrom}`);
      record.created = target.Id;
      return container;
    };
    let result: ServiceResult | undefined;
    await cutOver(this.cutover, record, current, bringBack, async () => {
      result = await restart(this.restoring, svc, target);
    });
    return result!;
  }

  /** What cutover.ts needs of this host. */
  private get cutover(): CutoverHost {
    return { ...this.restoring, proxy: this.proxy };
  }

  /** What restore.ts needs of this host. */
  private get restoring(): RestoreHost {
    const { project, log } = this.options;
    return {
      id: this.id,
      docker: this.docker,
      project,
      log,
      api: (promise, what) => this.api(promise, what),
      healthy: (c, svc) => this.healthy(c, svc),
    };
  }

  /** Undoes every switch of this host, newest first: the new container goes, the kept one comes back. */
  async undo(): Promise<void> {
    // A record goes once undone: an undo that fails (a host lost) is tried again by the environment's, which names it.
    while (this.switched.length > 0) {
      const record = this.switched.at(-1)!;
      const { plan } = record;
      if (record.routedFrom) await unroute(this.cutover, record).then(() => delete record.routedFrom);
      if (record.created) {
        const created = this.docker.getContainer(record.created);
        await stopContainer(created, plan.stopGraceMs).catch(() => undefined);
        if (record.restoredFrom) await created.rename({ name: record.restoredFrom }).catch(() => undefined);
        else await created.remove({ force: true }).catch(() => undefined);
        delete record.created;
      }
      if (record.keptId) {
        const kept = this.docker.getContainer(record.keptId);
        await this.api(kept.rename({ name: plan.container }), `restoring ${plan.container}`);
        if (record.keptWasRunning) await this.api(startContainer(kept), `restarting the previous ${plan.container}`);
      }
      this.switched.pop();
      this.options.log(`${plan.service}: rolled back${record.keptId ? ' to the previous container' : ''}`);
    }
    this.results.length = 0;
    await this.recovery.undone(this.view);
  }

  /** Checks that every switched service runs the pinned release. */
  async verify(): Promise<void> {
    const release = this.release;
    const services = this.switched
      .filter((s) => s.created && this.plan.services.some((svc) => svc.service === s.plan.service && runsRelease(svc)))
      .map((s) => s.plan);
    await verifyRelease(this.restoring, services, this.local ? releaseRef(release) : pinnedRef(release));
  }

  /**
   * After a deploy: kept containers beyond the newest `keepReleases` of each service, and those of services no
   * longer on this host, are removed. After a rollback: the releases rolled back from go, so that the next rollback
   * goes further back. The pending record goes meanwhile: the environment is verified.
   */
  async finish(): Promise<void> {
    const settled = this.recovery.settle(this.view);
    if (!this.options.job.release) {
      for (const record of this.switched.filter((s) => s.restoredFrom && s.keptId)) await removeContainer(this.docker, record.keptId!);
      return settled;
    }
    const { keepReleases, project, log } = this.options;
    const retired = this.changes.filter((change) => change.action === 'remove').map((change) => ({ service: change.service, keep: 0 }));
    const kept = this.plan.services.filter((s) => s.redeploy).map((svc) => ({ service: svc.service, keep: keepReleases }));
    await Promise.all([
      settled,
      pruneHost(this.docker, project, [...kept, ...retired], this.local ? undefined : this.release.repository, log),
    ]);
  }
}
