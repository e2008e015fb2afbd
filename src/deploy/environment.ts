import type { ListrTask } from 'listr2';
import type { ServiceResult } from '../core/changes.js';
import type { Masker } from '../core/mask.js';
import { type RolloutBatch, rolloutBatches } from '../core/rollout.js';
import { HostError, StageError } from '../errors.js';
import type { LeaseWatch } from './environment-lock.js';
import type { LockFields } from './lock.js';
import { takeLock } from './lock-wait.js';
import { type MemberTask, Phase } from './phase.js';
import type { DeployJob, DeployTarget, Log, MemberDeploy, ReleaseCommand, ServiceUrl, TargetMember } from './target.js';

export interface EnvironmentDeployOptions {
  target: DeployTarget;
  job: DeployJob;
  lock: LockFields;
  /** How long to queue behind a deploy that holds the lock (`--lock-wait`); 0: fail at once. */
  lockWaitMs: number;
  /** Whether the release's digest is still to be resolved from the members (this run did not push it). */
  resolveDigest: boolean;
  /** The config's release command, run between pull and switch; `skipRelease` says why it is not (`--skip-release`). */
  releaseCommand?: ReleaseCommand;
  skipRelease?: string;
  concurrency: number;
  /** `rollout.batch`: members switched at once, each batch healthy before the next; undefined: all at once. */
  batch?: RolloutBatch;
  mask: Masker;
  /** Told of each member that fails. */
  onFailure(id: string): void;
  /** Told, once the deploy has succeeded, what each member runs and where people reach it. */
  onDeployed(deployments: { host: string; services: readonly ServiceResult[] }[], urls: ServiceUrl[]): void;
}

/**
 * A deploy to one environment, as the documented process runs it: preflight every member, take the lock,
 * pull everywhere, run the release command once, switch (health-checked; every member back on its release if any fails), verify, unlock.
 * A rollback is the same with the switch back to kept releases in place of pull and switch.
 */
export class EnvironmentDeploy {
  private readonly members = new Map<string, MemberDeploy>();
  private readonly logs = new Map<string, Log>();
  /** Aborted when the lease is lost: the deploy stops, as on a signal, and says why. */
  private readonly lockLost = new AbortController();
  private readonly job: DeployJob;

  constructor(private readonly options: EnvironmentDeployOptions) {
    this.job = { ...options.job, signal: AbortSignal.any([options.job.signal, this.lockLost.signal]) };
  }

  private get target(): DeployTarget {
    return this.options.target;
  }

  tasks(): ListrTask[] {
    const preflight = this.phase('preflight', (member, task) => this.preflight(member, task));
    const lock: ListrTask = {
      title: 'lock',
      task: async (_ctx, task) => {
        const say = (line: string) => {
          task.output = line;
        };
        const { tookOver } = await takeLock(this.target, this.options.lock, {
          waitMs: this.options.lockWaitMs,
          signal: this.job.signal,
          say,
          watch: this.leaseWatch(),
        });
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
    if (!this.job.release) {
      return [preflight.task(), lock, ...this.batched('rollback', (member) => member.switchBack()), unlock];
    }
    const pull = this.phase('pull', (member) => this.member(member).pull());
    const verify = this.phase(
      'verify',
      (member) => this.member(member).verify(),
      () => this.undoAll(),
    );
    const release = this.options.releaseCommand ? [this.release(this.options.releaseCommand)] : [];
    return [preflight.task(), lock, pull.task(), ...release, ...this.batched('switch', (member) => member.switch()), verify.task(), unlock];
  }

  /**
   * The switch (or switch back) as one phase over every member, or with `rollout.batch` one phase per batch
   * (`switch 1/3`…), each gated before the next starts; a failure puts every member that switched back.
   */
  private batched(title: string, act: (member: MemberDeploy) => Promise<void>): ListrTask[] {
    const batches = rolloutBatches(this.target.members, this.options.batch);
    if (batches.length <= 1) return [this.switching(title, act).task()];
    return batches.map((members, i) => this.switching(`${title} ${i + 1}/${batches.length}`, act, () => members).task());
  }

  /** While the deploy runs: a renewal that failed is said on the member; a lease lost stops the deploy. */
  private leaseWatch(): LeaseWatch {
    const { environment } = this.target;
    return {
      renewFailed: (id, error) => this.logs.get(id)?.(`could not renew the deploy lock (${error.message}); trying again while it lasts`),
      lost: (id, reason) => {
        this.logs.get(id)?.(`the deploy lock is lost: ${reason}`);
        this.lockLost.abort(
          new StageError(
            `the deploy lock of ${environment} was lost on ${id} (${reason}): stopped, so that two deploys never switch the same hosts`,
          ),
        );
      },
    };
  }

  /** The release command, once, on the member the target names for its service: a failure fails the deploy before anything switched. */
  private release(command: ReleaseCommand): ListrTask {
    const { skipRelease } = this.options;
    const member = this.target.releaseMember?.(command.service);
    const phase = this.phase(
      'release',
      async (on, task) => {
        const deploy = this.member(on);
        if (!deploy.runRelease)
          throw new StageError(`${this.target.environment} cannot run a release command yet (--skip-release deploys without it)`);
        await deploy.runRelease(command);
        task.title = `${on.id}: ${command.command.join(' ')} exited with code 0`;
      },
      async () => '; nothing was switched',
      () => (member ? [member] : []),
    );
    const task = phase.task();
    const missing = () => {
      throw new StageError(
        this.target.releaseMember
          ? `release: no host of ${this.target.environment} runs ${command.service}`
          : `release: ${this.target.environment} cannot run a release command yet (--skip-release deploys without it)`,
      );
    };
    return { ...task, skip: () => skipRelease ?? false, task: member ? task.task : missing };
  }

  /** A phase over every member (or those `members` names); `afterFailure` runs when a member failed, before the deploy fails. */
  private phase(
    title: string,
    work: (member: TargetMember, task: MemberTask) => Promise<void>,
    afterFailure?: () => Promise<string>,
    members: () => readonly TargetMember[] = () => this.target.members,
  ): Phase {
    const { concurrency, mask, onFailure } = this.options;
    return new Phase(title, members, work, {
      concurrency,
      signal: this.job.signal,
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
    const { resolveDigest } = this.options;
    const { job } = this;
    const deploy = await this.target.open(member.id, job, (line) => this.logs.get(member.id)?.(line));
    this.members.set(member.id, deploy);
    const digest = await deploy.preflight(resolveDigest);
    if (job.release && digest) job.release.digest ??= digest;
    task.title = `${member.id}: ready${job.release?.digest ? ` (${job.release.digest.slice(0, 19)})` : ''}`;
  }

  /** The switch (or, for a rollback, the switch back), each member's title saying what its services did. */
  private switching(title: string, act: (member: MemberDeploy) => Promise<void>, members?: () => readonly TargetMember[]): Phase {
    return this.phase(
      title,
      async (member, task) => {
        const deploy = this.member(member);
        await act(deploy);
        task.title = `${member.id}: ${deploy.results.map((r) => `${r.service} ${r.action}`).join(', ')}`;
      },
      () => this.undoAll(),
      members,
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
