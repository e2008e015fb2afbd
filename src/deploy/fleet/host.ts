import type Docker from 'dockerode';
import { engineMessage, hasImage, pullImage, registryDigest } from '../../adapters/docker.js';
import { waitHealthy } from '../../adapters/health.js';
import type { HostConnection } from '../../adapters/ports.js';
import {
  containerSpec,
  keptAmong,
  keptContainers,
  keptName,
  RUNNING_RESTART_POLICY,
  startContainer,
  stopContainer,
} from '../../adapters/service.js';
import { planChanges, type ServiceChange, type ServiceResult } from '../../core/changes.js';
import { type HostPlan, LABEL_PREFIX, releaseLabels, runsRelease, type ServicePlan, serviceImage } from '../../core/plan.js';
import { credentialsFor, type RegistryAccess } from '../../core/registry.js';
import { pinnedRef, type Release, releaseRef } from '../../core/release.js';
import { delay, withHeartbeat, withTimeout } from '../../core/time.js';
import { HostError, StageError } from '../../errors.js';
import type { DeployJob, EarlyPull, Log, MemberDeploy } from '../target.js';
import { type CurrentContainer, observedServices, observeHost } from './observe.js';

const API_TIMEOUT_MS = 60_000;
export const PULL_TIMEOUT_MS = 15 * 60_000;

/** A Docker API call on a host, given a time limit; a failure names the host and what was being done. */
export function engineCall<T>(host: string, promise: Promise<T>, what: string): Promise<T> {
  return withTimeout(promise, API_TIMEOUT_MS, what).catch((error) => {
    throw new HostError(host, `${what}: ${error instanceof HostError ? error.reason : engineMessage(error)}`, { cause: error });
  });
}

export interface HostDeployOptions {
  project: string;
  keepReleases: number;
  registry: RegistryAccess | undefined;
  job: DeployJob;
  log: Log;
  sleep?: (ms: number) => Promise<void>;
  /** The pull of the release this host began while the tests ran, if it did. */
  early?: EarlyPull;
}

/**
 * One service switched on this host: the container it replaced (kept stopped), and the one now running —
 * created by this deploy, or a kept release brought back by a rollback (`restoredFrom` is its kept name).
 */
interface Switch {
  plan: Pick<ServicePlan, 'service' | 'container' | 'stopGraceMs'>;
  keptId?: string;
  keptWasRunning: boolean;
  created?: string;
  restoredFrom?: string;
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
  private changes: ServiceChange[] = [];
  /** The release image as the pull left it, for the labels of what the switch creates. */
  private releaseImage: Promise<Docker.ImageInspectInfo> | undefined;
  private readonly docker: Docker;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    readonly plan: HostPlan,
    private readonly connection: HostConnection,
    private readonly options: HostDeployOptions,
  ) {
    this.id = plan.address.id;
    this.docker = connection.docker;
    this.sleep = options.sleep ?? delay;
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

  /** Reads what runs (the change planner's input) and decides what the deploy does to each service. */
  private async observe(): Promise<void> {
    this.current = await this.api(observeHost(this.docker, this.plan, this.options.project), 'reading the containers');
    this.changes = planChanges(this.plan.services, observedServices(this.current));
  }

  private change(service: string): ServiceChange {
    return this.changes.find((change) => change.service === service)!;
  }

  /** What runs is read under the lock (pull, switchBack): preflight only checks that the release can be had. */
  async preflight(resolveDigest: boolean): Promise<string | undefined> {
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
    // Whether the host has the release already is asked while the host is read, not after.
    const present = pinned ? this.earlyPull(pinned).then(() => hasImage(this.docker, pinned)) : undefined;
    present?.catch(() => undefined);
    await this.observe();
    const starting = this.plan.services.filter((svc) => ['start', 'replace'].includes(this.change(svc.service).action));
    const images = new Set(starting.map((svc) => serviceImage(svc, release)));
    await Promise.all(
      [...images].map(async (image) => {
        const own = image === releaseRef(release);
        if (own && pinned) {
          if (!(await present)) await this.pullRef(pinned);
          await this.api(this.docker.getImage(pinned).tag({ repo: release.repository, tag: release.tag }), `tagging ${pinned}`);
        } else if (!(await hasImage(this.docker, image))) {
          await this.pullRef(image);
        }
        if (own) this.releaseImage = this.api(this.docker.getImage(releaseRef(release)).inspect(), `inspecting ${releaseRef(release)}`);
      }),
    );
  }

  /** Waits for the pull of `ref` this host began while the tests ran; if it failed, the deploy pulls again. */
  private async earlyPull(ref: string): Promise<void> {
    const { early, log } = this.options;
    if (early?.ref !== ref) return;
    early.follow(log);
    await early.done.catch((error: Error) => log(`the pull begun while testing failed (${error.message}); pulling again`));
  }

  private async pullRef(ref: string): Promise<void> {
    const { log } = this.options;
    const what = `pulling ${ref}`;
    log(what);
    await withHeartbeat(
      withTimeout(pullImage(this.docker, ref, credentialsFor(this.options.registry, ref), log), PULL_TIMEOUT_MS, what),
      log,
      what,
    ).catch((error) => {
      throw new HostError(this.id, (error as Error).message, { cause: error });
    });
  }

  async switch(): Promise<void> {
    // The services of a host are separate containers: they switch at once, each waiting for its own health.
    const outcomes = await Promise.allSettled(
      this.changes.map(async (change): Promise<ServiceResult> => {
        if (this.options.job.signal.aborted) throw new StageError('stopped by a signal');
        const svc = this.plan.services.find((s) => s.service === change.service);
        if (!svc) return this.retire(change.service);
        if (change.action !== 'leave') return this.switchService(svc);
        this.options.log(`${svc.service}: already running, left alone`);
        return { service: svc.service, container: svc.container, image: serviceImage(svc, this.release), action: 'left running' };
      }),
    );
    await this.settle(outcomes);
  }

  /** Records the outcomes, or puts the host back and throws the first failure. */
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
   * Puts a new container in place of the service's: the old one is renamed out of the way and stopped while the new
   * one is created, so the service is down only from the old one's stop to the new one's start.
   */
  private async switchService(svc: ServicePlan): Promise<ServiceResult> {
    const { log } = this.options;
    const old = this.current.get(svc.service);
    const image = serviceImage(svc, this.release);
    const record: Switch = { plan: svc, keptWasRunning: Boolean(old?.observed.running) };
    this.switched.push(record);
    const labels = await this.containerLabels(svc);
    const create = () =>
      this.api(
        this.docker.createContainer(containerSpec(svc, image, this.options.job.secretEnv(svc.secrets), labels)),
        `creating ${svc.container}`,
      ).then((created) => {
        record.created = created.id;
        return created;
      });
    const replace = this.change(svc.service).action === 'replace';
    let container: Docker.Container;
    if (old && replace) {
      container = await this.keep(record, old, create);
    } else {
      // A redeploy:false service that is not running is replaced, not kept: there is no release to return to.
      if (old) await this.api(this.docker.getContainer(old.info.Id).remove({ force: true }), `removing stopped ${svc.container}`);
      container = await create();
    }
    await this.api(container.start(), `starting ${svc.container}`);
    log(`${svc.service}: started ${image}, waiting until healthy`);
    await this.healthy(container, svc);
    await this.api(container.update({ RestartPolicy: RUNNING_RESTART_POLICY }), `setting the restart policy of ${svc.container}`);
    log(`${svc.service}: healthy`);
    return {
      service: svc.service,
      container: svc.container,
      image,
      action: replace ? 'replaced' : 'started',
      ...(runsRelease(svc) && this.release.digest ? { digest: this.release.digest } : {}),
    };
  }

  /** A service the config no longer puts on this host: stopped and kept like a replaced one until the deploy has succeeded. */
  private async retire(service: string): Promise<ServiceResult> {
    const old = this.current.get(service)!;
    const container = `${this.options.project}-${service}`;
    const record: Switch = { plan: { service, container, stopGraceMs: 10_000 }, keptWasRunning: old.observed.running };
    this.switched.push(record);
    await this.keep(record, old, async () => undefined);
    return { service, container, image: old.observed.image, action: 'removed' };
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
   * Renames the container of a service out of its name, keeping it for rollback, then stops it while `meanwhile`
   * runs; both have ended when this does (a rollback never races the stop).
   */
  private async keep<T>(record: Switch, old: CurrentContainer, meanwhile: () => Promise<T>): Promise<T> {
    const { plan } = record;
    const id = old.info.Id;
    this.options.log(`${plan.service}: stopping ${plan.container} (${old.observed.image}), kept for rollback`);
    await this.api(this.docker.getContainer(id).rename({ name: keptName(plan.container, id) }), `renaming ${plan.container}`);
    record.keptId = id;
    const [result, stopped] = await Promise.allSettled([
      meanwhile(),
      this.api(stopContainer(this.docker.getContainer(id), plan.stopGraceMs), `stopping ${plan.container}`),
    ]);
    if (stopped.status === 'rejected') throw stopped.reason;
    if (result.status === 'rejected') throw result.reason;
    return result.value;
  }

  /**
   * `pipeline rollback`: brings back, for every redeployed service, the newest kept release (or the one deployed with
   * the tag `rollbackTo`), health-checked. On failure this host's services are put back as they were before it throws.
   */
  async switchBack(): Promise<void> {
    const { job } = this.options;
    await this.observe();
    try {
      for (const svc of this.plan.services.filter((s) => s.redeploy)) {
        if (job.signal.aborted) throw new StageError('stopped by a signal');
        this.results.push(await this.restore(svc, job.rollbackTo));
      }
    } catch (error) {
      await this.undo();
      throw error instanceof HostError ? error : new HostError(this.id, (error as Error).message, { cause: error });
    }
  }

  private async restore(svc: ServicePlan, to: string | undefined): Promise<ServiceResult> {
    const kept = await this.api(
      keptContainers(this.docker, this.options.project, svc.service, svc.container),
      `listing kept releases of ${svc.service}`,
    );
    const target = to === undefined ? kept[0] : kept.find((c) => c.Labels[`${LABEL_PREFIX}tag`] === to);
    if (!target)
      throw new HostError(this.id, `${svc.service}: no kept release${to === undefined ? '' : ` deployed with tag ${to}`} to roll back to`);
    const current = this.current.get(svc.service);
    const record: Switch = { plan: svc, keptWasRunning: Boolean(current?.observed.running), restoredFrom: target.Names[0]!.slice(1) };
    this.switched.push(record);
    if (current) await this.keep(record, current, async () => undefined);
    const container = this.docker.getContainer(target.Id);
    await this.api(container.rename({ name: svc.container }), `restoring ${record.restoredFrom}`);
    record.created = target.Id;
    await this.api(container.start(), `starting ${svc.container}`);
    this.options.log(
      `${svc.service}: restarted ${target.Image} (tag ${target.Labels[`${LABEL_PREFIX}tag`] ?? 'unknown'}), waiting until healthy`,
    );
    await this.healthy(container, svc);
    return {
      service: svc.service,
      container: svc.container,
      image: target.Image,
      action: 'rolled back',
      digest: target.Labels[`${LABEL_PREFIX}digest`],
    };
  }

  /** Labels that let `pipeline status` say what runs and who put it there; the commit comes from the image itself. */
  private async containerLabels(svc: ServicePlan): Promise<Record<string, string>> {
    const labels: Record<string, string> = {
      ...releaseLabels(svc, this.release),
      [`${LABEL_PREFIX}deployed-by`]: this.options.job.deployedBy,
      [`${LABEL_PREFIX}deployed-at`]: new Date().toISOString(),
    };
    if (!runsRelease(svc)) return labels;
    const ref = releaseRef(this.release);
    const image = await (this.releaseImage ??= this.api(this.docker.getImage(ref).inspect(), `inspecting ${ref}`));
    const commit = image.Config.Labels?.['org.opencontainers.image.revision'];
    if (commit) labels[`${LABEL_PREFIX}commit`] = commit;
    if (this.release.digest) labels[`${LABEL_PREFIX}digest`] = this.release.digest;
    return labels;
  }

  /** Undoes every switch of this host, newest first: the new container goes, the kept one comes back. */
  async undo(): Promise<void> {
    while (this.switched.length > 0) {
      const record = this.switched.pop()!;
      const { plan } = record;
      if (record.created) {
        const created = this.docker.getContainer(record.created);
        await stopContainer(created, plan.stopGraceMs).catch(() => undefined);
        if (record.restoredFrom) await created.rename({ name: record.restoredFrom }).catch(() => undefined);
        else await created.remove({ force: true }).catch(() => undefined);
      }
      if (record.keptId) {
        const kept = this.docker.getContainer(record.keptId);
        await this.api(kept.rename({ name: plan.container }), `restoring ${plan.container}`);
        if (record.keptWasRunning) await this.api(startContainer(kept), `restarting the previous ${plan.container}`);
      }
      this.options.log(`${plan.service}: rolled back${record.keptId ? ' to the previous container' : ''}`);
    }
    this.results.length = 0;
  }

  /** Checks that every switched service runs the pinned release. */
  async verify(): Promise<void> {
    const release = this.release;
    const records = this.switched.filter(
      (s) => s.created && this.plan.services.some((svc) => svc.service === s.plan.service && runsRelease(svc)),
    );
    const [image, ...containers] = await Promise.all([
      this.api(this.docker.getImage(this.local ? releaseRef(release) : pinnedRef(release)).inspect(), 'inspecting the release image'),
      ...records.map((record) =>
        this.api(this.docker.getContainer(record.plan.container).inspect(), `inspecting ${record.plan.container}`),
      ),
    ]);
    records.forEach((record, i) => {
      const info = containers[i]!;
      if (info.Image !== image.Id)
        throw new HostError(
          this.id,
          `${record.plan.service} runs image ${info.Image.slice(7, 19)}, not the release ${image.Id.slice(7, 19)}`,
        );
      if (!info.State.Running) throw new HostError(this.id, `${record.plan.service} is no longer running`);
    });
  }

  /**
   * After a deploy: kept containers beyond the newest `keepReleases` of each service, and those of services no
   * longer on this host, are removed. After a rollback: the releases rolled back from go, so that the next rollback
   * goes further back.
   */
  async finish(): Promise<void> {
    if (!this.options.job.release) {
      for (const record of this.switched.filter((s) => s.restoredFrom && s.keptId)) {
        await this.docker
          .getContainer(record.keptId!)
          .remove({ force: true })
          .catch(() => undefined);
      }
      return;
    }
    const { keepReleases, project, log } = this.options;
    const retired = this.changes.filter((change) => change.action === 'remove').map((change) => ({ service: change.service, keep: 0 }));
    const services = [
      ...this.plan.services.filter((s) => s.redeploy).map((svc) => ({ service: svc.service, keep: keepReleases })),
      ...retired,
    ];
    // One look at the host for both: the kept releases beyond those to keep, and the images no container uses.
    const [containers, images] = await Promise.all([
      this.docker.listContainers({ all: true }),
      // The runner's own engine keeps the images, as its build cache.
      this.local ? [] : this.docker.listImages({ filters: { reference: [this.release.repository] } }),
    ]);
    const old = services.flatMap(({ service, keep }) =>
      keptAmong(containers, project, service, `${project}-${service}`)
        .slice(keep)
        .map((info) => ({ service, info })),
    );
    await Promise.all(
      old.map(async ({ service, info }) => {
        await this.docker
          .getContainer(info.Id)
          .remove({ force: true })
          .catch(() => undefined);
        log(`${service}: removed old release ${info.Names[0]?.slice(1)}`);
      }),
    );
    const gone = new Set(old.map(({ info }) => info.Id));
    const used = new Set(containers.filter((c) => !gone.has(c.Id)).map((c) => c.ImageID));
    // A conflict (an image another container started meanwhile uses) just leaves it.
    await Promise.all(
      images
        .filter((i) => !used.has(i.Id))
        .map((image) =>
          this.docker
            .getImage(image.Id)
            .remove({ force: false, noprune: false })
            .then(
              () => log(`removed unused image ${(image.RepoTags ?? [])[0] ?? image.Id.slice(7, 19)}`),
              () => undefined,
            ),
        ),
    );
  }
}
