import type Docker from 'dockerode';
import type { HostExec } from '../../adapters/ports.js';
import { stopContainer } from '../../adapters/service.js';
import { type PendingDeploy, pendingRecord } from '../../core/leftovers.js';
import { clearPending, readPending, writePending } from '../pending.js';
import type { Log } from '../target.js';
import type { HostView } from './observe.js';

export interface HostRecoveryDeps {
  docker: Docker;
  exec: HostExec;
  /** The pending record's path on the host (deploy/pending.ts). */
  path: string;
  project: string;
  api<T>(promise: Promise<T>, what: string): Promise<T>;
  log: Log;
  graceMs(service: string): number;
}

/**
 * A deploy's pending record on one host (see core/leftovers.ts), and cleaning up after deploys that died there: it is
 * written before the host changes, and removed once the environment is verified or the host is back where it was.
 */
export class HostRecovery {
  private written = false;
  /** What interrupted deploys left is cleaned up: undoing this deploy then leaves the last verified release. */
  private recovered = false;

  constructor(private readonly deps: HostRecoveryDeps) {}

  read(): Promise<PendingDeploy | undefined> {
    return readPending(this.deps.exec, this.deps.path);
  }

  /**
   * Before anything on the host changes: the record names this deploy and what runs now, then what deploys that died
   * here left is cleaned up, so that the switch starts from the last verified release.
   */
  async start(deploy: Omit<PendingDeploy, 'unverified' | 'previous'>, view: HostView): Promise<void> {
    const running = new Map(
      [...view.current].map(([service, { info, observed }]) => [service, { id: info.Id, running: observed.running }]),
    );
    await this.deps.api(
      writePending(this.deps.exec, this.deps.path, pendingRecord(deploy, view.pending, running)),
      'recording the deploy on the host',
    );
    this.written = true;
    await this.recover(view);
  }

  /**
   * The unverified containers of interrupted deploys are stopped and removed, and the containers they had renamed
   * aside take their service's name again. Nothing is started: the deploy about to switch decides what runs.
   */
  async recover(view: HostView): Promise<void> {
    const { docker, api, log, project } = this.deps;
    await Promise.all(
      view.leftovers.map(async (leftover) => {
        const container = docker.getContainer(leftover.id);
        await api(
          stopContainer(container, this.deps.graceMs(leftover.service))
            .then(() => container.remove({ force: true }))
            .catch(unlessGone),
          `removing ${leftover.name}`,
        );
        log(`${leftover.service}: removed ${leftover.name}, left unverified by an interrupted deploy`);
      }),
    );
    view.leftovers = [];
    for (const [service, current] of view.current) {
      if (!current.renamedAside) continue;
      const name = `${project}-${service}`;
      await api(docker.getContainer(current.info.Id).rename({ name }), `renaming the previous ${name} back`);
      delete current.renamedAside;
      log(`${service}: the previous container, set aside by an interrupted deploy, is ${name} again`);
    }
    this.recovered = true;
  }

  /** The environment is verified (or a rollback done): no deploy is pending on the host any more. */
  async settle(view: HostView): Promise<void> {
    if (!this.written && !view.pending) return;
    await this.deps.api(clearPending(this.deps.exec, this.deps.path), 'removing the pending deploy record');
    this.written = false;
    view.pending = undefined;
  }

  /** This deploy's switch is undone: the host is back on the last verified release, if what it found was cleaned up. */
  async undone(view: HostView): Promise<void> {
    if (this.written && this.recovered) await this.settle(view).catch(() => undefined);
  }
}

/** A container removed meanwhile is as good as removed. */
function unlessGone(error: unknown): void {
  if ((error as { statusCode?: number }).statusCode !== 404) throw error;
}
