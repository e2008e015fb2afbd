import type Docker from 'dockerode';
import { authFor, engineMessage, pullImage, splitImageRef, type RegistryAuth } from '../adapters/docker.js';
import { waitHealthy } from '../adapters/health.js';
import { containerSpec, findContainer, keptContainers, keptName, RUNNING_RESTART_POLICY, startContainer, stopContainer } from '../adapters/service.js';
import type { PipelineConfig } from '../config/schema.js';
import { LABEL_PREFIX, type HostPlan, type ServicePlan } from '../core/plan.js';
import { delay, withHeartbeat, withTimeout } from '../core/time.js';
import { HostError, StageError } from '../errors.js';
import type { DeployConnection } from '../runner/context.js';

const API_TIMEOUT_MS = 60_000;
const PULL_TIMEOUT_MS = 15 * 60_000;

/** A Docker API call on a host, given a time limit; a failure names the host and what was being done. */
export function engineCall<T>(host: string, promise: Promise<T>, what: string): Promise<T> {
  return withTimeout(promise, API_TIMEOUT_MS, what).catch((error) => {
    throw new HostError(host, `${what}: ${error instanceof HostError ? error.reason : engineMessage(error)}`, { cause: error });
  });
}

export type ServiceAction = 'started' | 'replaced' | 'left running' | 'rolled back';
export interface ServiceResult { service: string; container: string; image: string; action: ServiceAction; digest?: string }

/** The release being deployed: the pipeline's image at the tag, pinned to one digest (or, on the runner's engine, one image id). */
export interface Release { tag: string; ref: string; digest?: string }

/**
 * One service switched on this host: the container it replaced (kept stopped), and the one now running —
 * created by this deploy, or a kept release brought back by a rollback (`restoredFrom` is its kept name).
 */
interface Switch { plan: ServicePlan; keptId?: string; keptWasRunning: boolean; created?: string; restoredFrom?: string }

export interface HostReleaseOptions {
  config: PipelineConfig;
  release: Release;
  /** `user@machine`, recorded on the containers. */
  deployedBy: string;
  secretEnv(plan: ServicePlan): Record<string, string>;
  log(line: string): void;
  signal: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * One host's part of a deploy, in the order the deploy runs it: preflight,
 * pull, switch (each service: keep the old container stopped, start the new
 * one, wait until healthy), verify; and the undo of a switch, for rollback.
 */
export class HostRelease {
  readonly id: string;
  readonly results: ServiceResult[] = [];
  private readonly switched: Switch[] = [];
  private readonly running = new Map<string, boolean>();
  private readonly docker: Docker;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(readonly plan: HostPlan, readonly connection: DeployConnection, private readonly options: HostReleaseOptions) {
    this.id = plan.address.id;
    this.docker = connection.docker;
    this.sleep = options.sleep ?? delay;
  }

  private get local(): boolean {
    return this.plan.address.kind === 'local';
  }

  private auth(ref: string): RegistryAuth | undefined {
    return authFor(ref, this.options.config.registry);
  }

  private api<T>(promise: Promise<T>, what: string): Promise<T> {
    return engineCall(this.id, promise, what);
  }

  /**
   * Read-only checks before anything changes (on a connection whose engine has
   * answered): which `redeploy: false` services already run, and, when asked,
   * that the release's digest resolves from here. Resolves with the digest the
   * host sees for the release (remote hosts).
   */
  async preflight(options: { resolveDigest: boolean } = { resolveDigest: true }): Promise<string | undefined> {
    await Promise.all(this.plan.services.map(async (svc) => {
      this.running.set(svc.service, Boolean((await this.api(findContainer(this.docker, svc.container), `inspecting ${svc.container}`))?.State.Running));
    }));
    if (!options.resolveDigest || !this.plan.services.some((svc) => svc.ownImage)) return undefined;
    const { ref } = this.options.release;
    if (this.local) {
      const image = await this.docker.getImage(ref).inspect().catch(() => undefined);
      if (!image && !this.options.config.registry) throw new HostError(this.id, `image ${ref} is not on the runner's Docker engine and no registry is configured`);
      return undefined;
    }
    const distribution = this.docker.getImage(ref).distribution({ authconfig: this.auth(ref) } as never) as unknown as Promise<Docker.ImageDistributionInfo>;
    const info = await this.api(distribution, `resolving ${ref} in the registry`);
    return info.Descriptor.digest;
  }

  /** Whether a service is started by this deploy (`redeploy: false` ones only when not running). */
  private starts(svc: ServicePlan): boolean {
    return svc.redeploy || !this.running.get(svc.service);
  }

  /**
   * Pulls what the switch will start: the release by its digest (tagged locally with its tag), and missing
   * third-party images. An image the engine already has by that digest is the release itself: it is not pulled again.
   */
  async pull(): Promise<void> {
    const { release } = this.options;
    const present = (ref: string) => this.docker.getImage(ref).inspect().then(() => true, () => false);
    const images = new Set(this.plan.services.filter((s) => this.starts(s)).map((s) => s.image));
    await Promise.all([...images].map(async (image) => {
      const own = this.plan.services.some((s) => s.image === image && s.ownImage);
      if (own && !this.local) {
        const { repo } = splitImageRef(release.ref);
        const pinned = `${repo}@${release.digest}`;
        if (!await present(pinned)) await this.pullRef(pinned);
        await this.api(this.docker.getImage(pinned).tag({ repo, tag: release.tag }), `tagging ${pinned}`);
      } else if (!await present(image)) {
        await this.pullRef(image);
      }
    }));
  }

  private async pullRef(ref: string): Promise<void> {
    const what = `pulling ${ref}`;
    this.options.log(what);
    await withHeartbeat(withTimeout(pullImage(this.docker, ref, this.auth(ref), (line) => this.options.log(line)), PULL_TIMEOUT_MS, what), this.options.log, what)
      .catch((error) => { throw new HostError(this.id, (error as Error).message, { cause: error }); });
  }

  /** Switches every service to the release; on failure this host's switched services are rolled back before it throws. */
  async switch(): Promise<void> {
    // The services of a host are separate containers: they switch at once, each waiting for its own health.
    const outcomes = await Promise.allSettled(this.plan.services.map(async (svc): Promise<ServiceResult> => {
      if (this.options.signal.aborted) throw new StageError('stopped by a signal');
      if (this.starts(svc)) return this.switchService(svc);
      this.options.log(`${svc.service}: already running, left alone`);
      return { service: svc.service, container: svc.container, image: svc.image, action: 'left running' };
    }));
    const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failure) {
      await this.rollback();
      const error = failure.reason as Error;
      throw error instanceof HostError ? error : new HostError(this.id, error.message, { cause: error });
    }
    this.results.push(...outcomes.map((outcome) => (outcome as PromiseFulfilledResult<ServiceResult>).value));
  }

  /**
   * Replaces one service's container: the old one is renamed out of the way and stopped while the new one is
   * created, so the service is down only from the old one's stop to the new one's start.
   */
  private async switchService(svc: ServicePlan): Promise<ServiceResult> {
    const { log } = this.options;
    const [old, labels] = await Promise.all([
      this.api(findContainer(this.docker, svc.container), `inspecting ${svc.container}`),
      this.releaseLabels(svc),
    ]);
    const record: Switch = { plan: svc, keptWasRunning: Boolean(old?.State.Running) };
    this.switched.push(record);
    const create = () => this.api(this.docker.createContainer(containerSpec(svc, this.options.secretEnv(svc), labels)), `creating ${svc.container}`)
      .then((created) => { record.created = created.id; return created; });
    let container: Docker.Container;
    if (old && svc.redeploy) {
      container = await this.keep(record, old, create);
    } else {
      // A redeploy:false service that is not running is replaced, not kept: there is no release to return to.
      if (old) await this.api(this.docker.getContainer(old.Id).remove({ force: true }), `removing stopped ${svc.container}`);
      container = await create();
    }
    await this.api(container.start(), `starting ${svc.container}`);
    log(`${svc.service}: started ${svc.image}, waiting until healthy`);
    await waitHealthy(this.docker, container, svc, { openTcp: (address, port) => this.connection.openTcp(address, port), log, sleep: this.sleep, signal: this.options.signal });
    await this.api(container.update({ RestartPolicy: RUNNING_RESTART_POLICY }), `setting the restart policy of ${svc.container}`);
    log(`${svc.service}: healthy`);
    return { service: svc.service, container: svc.container, image: svc.image, action: old && svc.redeploy ? 'replaced' : 'started', digest: svc.ownImage ? this.options.release.digest : undefined };
  }

  /**
   * Renames the container of a service out of its name, keeping it for rollback, then stops it while `meanwhile`
   * runs; both have ended when this does (a rollback never races the stop).
   */
  private async keep<T>(record: Switch, old: Docker.ContainerInspectInfo, meanwhile: () => Promise<T>): Promise<T> {
    const { plan } = record;
    this.options.log(`${plan.service}: stopping ${plan.container} (${old.Config.Image}), kept for rollback`);
    await this.api(this.docker.getContainer(old.Id).rename({ name: keptName(plan.container, old.Id) }), `renaming ${plan.container}`);
    record.keptId = old.Id;
    const [result, stopped] = await Promise.allSettled([meanwhile(), this.api(stopContainer(this.docker.getContainer(old.Id), plan.stopGraceMs), `stopping ${plan.container}`)]);
    if (stopped.status === 'rejected') throw stopped.reason;
    if (result.status === 'rejected') throw result.reason;
    return result.value;
  }

  /**
   * `pipeline rollback`: brings back, for every redeployed service, the newest kept
   * release (or the one deployed with the tag `to`), health-checked. On failure this
   * host's services are put back as they were before it throws.
   */
  async switchBack(to?: string): Promise<void> {
    const { config, log, signal } = this.options;
    try {
      for (const svc of this.plan.services.filter((s) => s.redeploy)) {
        if (signal.aborted) throw new StageError('stopped by a signal');
        const kept = await this.api(keptContainers(this.docker, config.project, svc.service, svc.container), `listing kept releases of ${svc.service}`);
        const target = to === undefined ? kept[0] : kept.find((c) => c.Labels[`${LABEL_PREFIX}tag`] === to);
        if (!target) throw new HostError(this.id, `${svc.service}: no kept release${to === undefined ? '' : ` deployed with tag ${to}`} to roll back to`);
        const current = await this.api(findContainer(this.docker, svc.container), `inspecting ${svc.container}`);
        const record: Switch = { plan: svc, keptWasRunning: Boolean(current?.State.Running), restoredFrom: target.Names[0]!.slice(1) };
        this.switched.push(record);
        if (current) await this.keep(record, current, async () => undefined);
        const container = this.docker.getContainer(target.Id);
        await this.api(container.rename({ name: svc.container }), `restoring ${record.restoredFrom}`);
        record.created = target.Id;
        await this.api(container.start(), `starting ${svc.container}`);
        log(`${svc.service}: restarted ${target.Image} (tag ${target.Labels[`${LABEL_PREFIX}tag`] ?? 'unknown'}), waiting until healthy`);
        await waitHealthy(this.docker, container, svc, { openTcp: (address, port) => this.connection.openTcp(address, port), log, sleep: this.sleep, signal });
        this.results.push({ service: svc.service, container: svc.container, image: target.Image, action: 'rolled back', digest: target.Labels[`${LABEL_PREFIX}digest`] });
      }
    } catch (error) {
      await this.rollback();
      throw error instanceof HostError ? error : new HostError(this.id, (error as Error).message, { cause: error });
    }
  }

  /** After a rollback: the releases rolled back from are removed, so that the next rollback goes further back. */
  async discardReplaced(): Promise<void> {
    for (const record of this.switched.filter((s) => s.restoredFrom && s.keptId)) {
      await this.docker.getContainer(record.keptId!).remove({ force: true }).catch(() => undefined);
    }
  }

  /** Labels that let `pipeline status` say what runs and who put it there; the commit comes from the image itself. */
  private async releaseLabels(svc: ServicePlan): Promise<Record<string, string>> {
    const labels: Record<string, string> = { [`${LABEL_PREFIX}deployed-by`]: this.options.deployedBy, [`${LABEL_PREFIX}deployed-at`]: new Date().toISOString() };
    if (!svc.ownImage) return labels;
    const image = await this.api(this.docker.getImage(svc.image).inspect(), `inspecting ${svc.image}`);
    const commit = image.Config.Labels?.['org.opencontainers.image.revision'];
    if (commit) labels[`${LABEL_PREFIX}commit`] = commit;
    if (this.options.release.digest) labels[`${LABEL_PREFIX}digest`] = this.options.release.digest;
    return labels;
  }

  /** Undoes every switch of this host, newest first: the new container goes, the kept one comes back. */
  async rollback(): Promise<void> {
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
    const { release } = this.options;
    const records = this.switched.filter((s) => s.plan.ownImage);
    const [image, ...containers] = await Promise.all([
      this.api(this.docker.getImage(this.local || !release.digest ? release.ref : `${splitImageRef(release.ref).repo}@${release.digest}`).inspect(), 'inspecting the release image'),
      ...records.map((record) => this.api(this.docker.getContainer(record.plan.container).inspect(), `inspecting ${record.plan.container}`)),
    ]);
    records.forEach((record, i) => {
      const info = containers[i]!;
      if (info.Image !== image.Id) throw new HostError(this.id, `${record.plan.service} runs image ${info.Image.slice(7, 19)}, not the release ${image.Id.slice(7, 19)}`);
      if (!info.State.Running) throw new HostError(this.id, `${record.plan.service} is no longer running`);
    });
  }

  /** Removes kept containers beyond the newest `keep` of each service. */
  async prune(keep: number): Promise<void> {
    await Promise.all(this.plan.services.filter((s) => s.redeploy).map(async (svc) => {
      const kept = await keptContainers(this.docker, this.options.config.project, svc.service, svc.container);
      await Promise.all(kept.slice(keep).map(async (old) => {
        await this.docker.getContainer(old.Id).remove({ force: true }).catch(() => undefined);
        this.options.log(`${svc.service}: removed old release ${old.Names[0]?.slice(1)}`);
      }));
    }));
    // On deploy hosts, images of the pipeline's repository that no container uses any more go too;
    // the runner's own engine keeps them, as its build cache.
    if (!this.local) await this.pruneImages();
  }

  private async pruneImages(): Promise<void> {
    const { repo } = splitImageRef(this.options.release.ref);
    const [containers, images] = await Promise.all([this.docker.listContainers({ all: true }), this.docker.listImages({ filters: { reference: [repo] } })]);
    const used = new Set(containers.map((c) => c.ImageID));
    // A conflict (an image another container started meanwhile uses) just leaves it.
    await Promise.all(images.filter((i) => !used.has(i.Id)).map((image) => this.docker.getImage(image.Id).remove({ force: false, noprune: false }).then(
      () => this.options.log(`removed unused image ${(image.RepoTags ?? [])[0] ?? image.Id.slice(7, 19)}`),
      () => undefined,
    )));
  }
}
