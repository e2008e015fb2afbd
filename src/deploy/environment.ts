import type { ListrTask } from 'listr2';
import type { ServiceResult } from '../core/changes.js';
import type { Masker } from '../core/mask.js';
import { HostError } from '../errors.js';
import type { LockFields } from './lock.js';
import { type MemberTask, Phase } from './phase.js';
import type { DeployJob, DeployTarget, Log, MemberDeploy, ServiceUrl, TargetMember } from './target.js';

export interface EnvironmentDeployOptions {
  target: DeployTarget;
  job: DeployJob;
  lock: LockFields;
  /** Whether the release's digest is still to be resolved from the members (this run did not push it). */
  resolveDigest: boolean;
  concurrency: number;
  mask: Masker;
  /** Told of each member that fails. */
  onFailure(id: string): void;
  /** Told, once the deploy has succeeded, what each member runs and where people reach it. */
  onDeployed(deployments: { host: string; services: readonly ServiceResult[] }[], urls: ServiceUrl[]): void;
}

/**
 * A deploy to one environment, as the documented process runs it: preflight every member, take the lock,
 * pull everywhere, switch (health-checked; every member back on its release if any fails), verify, unlock.
 * A rollback is the same with the switch back to kept releases in place of pull and switch.
 */
export class EnvironmentDeploy {
  private readonly members = new Map<string, MemberDeploy>();
  private readonly logs = new Map<string, Log>();

  constructor(private readonly options: EnvironmentDeployOptions) {}

  private get target(): DeployTarget {
    return this.options.target;
  }

  tasks(): ListrTask[] {
    const preflight = this.phase('preflight', (member, task) => this.preflight(member, task));
    const lock: ListrTask = {
      title: 'lock',
      task: async (_ctx, task) => {
        const { tookOver } = await this.target.lock(this.options.lock);
        task.title = `lock: ${this.target.environment} locked on ${this.target.members.length} host(s)`;
        if (tookOver.length > 0) task.output = `took over an expired lock of ${tookOver[0]!.holder.user} on ${tookOver[0]!.holder.machine}`;
      },
    };
    const unlock: ListrTask = {
      title: 'unlock',
      task: async (_ctx, task) => {
        await Promise.allSettled([...this.members.values()].map((member) => member.finish()));
        this.options.onDeployed(
          this.target.members.map((m) => ({ host: m.id, services: this.members.get(m.id)!.results })),
          this.target.urls(),
        );
        await this.target.close();
        task.title = `unlock: ${this.target.environment} released`;
      },
    };
    if (!this.options.job.release) {
      const switchBack = this.switching('rollback', (member) => member.switchBack());
      return [preflight.task(), lock, switchBack.task(), unlock];
    }
    const pull = this.phase('pull', (member) => this.member(member).pull());
    const switchHosts = this.switching('switch', (member) => member.switch());
    const verify = this.phase(
      'verify',
      (member) => this.member(member).verify(),
      () => this.undoAll(),
    );
    return [preflight.task(), lock, pull.task(), switchHosts.task(), verify.task(), unlock];
  }

  /** A phase; `afterFailure` runs when a member failed, before the deploy fails. */
  private phase(
    title: string,
    work: (member: TargetMember, task: MemberTask) => Promise<void>,
    afterFailure?: () => Promise<string>,
  ): Phase {
    const { concurrency, job, mask, onFailure } = this.options;
    return new Phase(title, () => this.target.members, work, {
      concurrency,
      signal: job.signal,
      mask,
      onFailure,
      attachLog: (id, log) => this.logs.set(id, log),
      ...(afterFailure ? { afterFailure } : {}),
    });
  }

  private member(member: TargetMember): MemberDeploy {
    return this.members.get(member.id)!;
  }

  /** Opens the member's part of the deploy; the digest is pinned once: from the push just done, else as the first member resolves it. */
  private async preflight(member: TargetMember, task: MemberTask): Promise<void> {
    const { job, resolveDigest } = this.options;
    const deploy = await this.target.open(member.id, job, (line) => this.logs.get(member.id)?.(line));
    this.members.set(member.id, deploy);
    const digest = await deploy.preflight(resolveDigest);
    if (job.release && digest) job.release.digest ??= digest;
    task.title = `${member.id}: ready${job.release?.digest ? ` (${job.release.digest.slice(0, 19)})` : ''}`;
  }

  /** The switch (or, for a rollback, the switch back), each member's title saying what its services did. */
  private switching(title: string, act: (member: MemberDeploy) => Promise<void>): Phase {
    return this.phase(
      title,
      async (member, task) => {
        const deploy = this.member(member);
        await act(deploy);
        task.title = `${member.id}: ${deploy.results.map((r) => `${r.service} ${r.action}`).join(', ')}`;
      },
      () => this.undoAll(),
    );
  }

  /** Puts every member that switched back on its release; the text ends the failure's message. */
  private async undoAll(): Promise<string> {
    const outcomes = await Promise.all(
      [...this.members.values()].map((member) =>
        member.undo().then(
          () => undefined,
          (error: Error) => `${member.id} (${error instanceof HostError ? error.reason.replace(/^.*: /, '') : error.message})`,
        ),
      ),
    );
    const failed = outcomes.filter(Boolean);
    return failed.length === 0
      ? '; every host is back on its previous release'
      : `; could not roll back ${failed.join(', ')}: check it with pipeline status ${this.target.environment}`;
  }
}
