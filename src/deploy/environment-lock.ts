import type { HostExec } from '../adapters/ports.js';
import { HostError, StageError } from '../errors.js';
import { acquireLock, describeLock, type LockFields, type LockInfo, lockDir, newLock, removeLock, renewLock } from './lock.js';

/** A member's programs, for the lock scripts. */
export interface LockMember {
  id: string;
  exec: HostExec;
}

/**
 * An environment's deploy lock, taken on every member (members have separate filesystems) or on none,
 * renewed while the deploy runs so that only a dead deploy's lock ever expires.
 */
export class EnvironmentLock {
  private held: LockInfo | undefined;
  private lockedOn: LockMember[] = [];
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly dir: string;

  constructor(
    project: string,
    private readonly environment: string,
    private readonly ttlMs: number,
  ) {
    this.dir = lockDir(project, environment);
  }

  /** Takes the lock on every member; a held lock fails naming its holder, and what was taken is given back. */
  async lock(members: readonly LockMember[], fields: LockFields): Promise<{ tookOver: LockInfo[] }> {
    const lock = newLock({ ...fields, environment: this.environment }, new Date(), this.ttlMs);
    const results = await Promise.allSettled(
      members.map(async (member) => ({ member, result: await acquireLock(member.exec, this.dir, lock, new Date()) })),
    );
    this.held = lock;
    this.lockedOn = results.flatMap((r) => (r.status === 'fulfilled' && r.value.result.acquired ? [r.value.member] : []));
    const failure = results.find((r) => r.status === 'rejected' || !r.value.result.acquired);
    if (failure) {
      await this.unlock();
      if (failure.status === 'rejected')
        throw new HostError(
          String((failure.reason as HostError).host ?? ''),
          `cannot take the deploy lock: ${(failure.reason as Error).message}`,
        );
      const held = failure.value.result as { heldBy?: LockInfo };
      throw new StageError(
        `${this.environment} is locked by ${held.heldBy ? describeLock(held.heldBy) : 'another deploy'} (on ${failure.value.member.id}); if that deploy is dead, run: pipeline lock release ${this.environment}`,
      );
    }
    this.renewTimer = setInterval(
      () => {
        void this.renew();
      },
      Math.max(1000, this.ttlMs / 3),
    );
    this.renewTimer.unref();
    return {
      tookOver: results.flatMap((r) =>
        r.status === 'fulfilled' && r.value.result.acquired && r.value.result.tookOver ? [r.value.result.tookOver] : [],
      ),
    };
  }

  private async renew(): Promise<void> {
    const lock = this.held;
    if (lock) await Promise.allSettled(this.lockedOn.map((member) => renewLock(member.exec, this.dir, lock, new Date(), this.ttlMs)));
  }

  /** Gives up this deploy's lock on every member that has it; safe to call more than once. */
  async unlock(): Promise<void> {
    clearInterval(this.renewTimer);
    const lock = this.held;
    if (!lock) return;
    await Promise.allSettled(this.lockedOn.map((member) => removeLock(member.exec, this.dir, lock)));
    this.lockedOn = [];
    this.held = undefined;
  }
}
