import type { HostExec } from '../adapters/ports.js';
import { nextRenewal } from '../core/lease.js';
import { HostError, StageError } from '../errors.js';
import { acquireLock, describeLock, type LockFields, type LockInfo, lockDir, newLock, removeLock, renewLock } from './lock.js';

/** A member's programs, for the lock scripts. */
export interface LockMember {
  id: string;
  exec: HostExec;
}

/** Told how the lease fares while the deploy runs. */
export interface LeaseWatch {
  /** A renewal failed on a member; it is tried again while the lease lasts. */
  renewFailed?(member: string, error: Error): void;
  /** The lease is lost on a member: another deploy took it over, or it expired before a renewal got through. */
  lost?(member: string, reason: string): void;
}

/** The environment is locked by another deploy: who holds it, on which member (undefined: its record is unreadable). */
export class LockHeldError extends StageError {
  constructor(
    readonly environment: string,
    readonly member: string,
    readonly heldBy: LockInfo | undefined,
  ) {
    super(
      `${environment} is locked by ${heldBy ? describeLock(heldBy) : 'another deploy'} (on ${member}); if that deploy is dead, run: pipeline lock release ${environment}`,
    );
  }
}

/**
 * An environment's deploy lock, taken on every member (members have separate filesystems) or on none. It is a lease:
 * the live deploy renews it on each member once a third of its TTL has passed, so that a deploy that dies (SIGKILL,
 * a lost runner) blocks the next one for one TTL at most.
 */
export class EnvironmentLock {
  private held: LockInfo | undefined;
  private lockedOn: LockMember[] = [];
  private keepers: LeaseKeeper[] = [];
  private readonly dir: string;

  constructor(
    project: string,
    private readonly environment: string,
    private readonly ttlMs: number,
  ) {
    this.dir = lockDir(project, environment);
  }

  /** Takes the lock on every member; a held lock fails naming its holder (LockHeldError), and what was taken is given back. */
  async lock(members: readonly LockMember[], fields: LockFields, watch: LeaseWatch = {}): Promise<{ tookOver: LockInfo[] }> {
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
      throw new LockHeldError(this.environment, failure.value.member.id, held.heldBy);
    }
    this.keepers = this.lockedOn.map((member) => new LeaseKeeper(member, this.dir, lock, this.ttlMs, watch));
    return {
      tookOver: results.flatMap((r) =>
        r.status === 'fulfilled' && r.value.result.acquired && r.value.result.tookOver ? [r.value.result.tookOver] : [],
      ),
    };
  }

  /** Gives up this deploy's lock on every member that has it; safe to call more than once. */
  async unlock(): Promise<void> {
    for (const keeper of this.keepers) keeper.stop();
    this.keepers = [];
    const lock = this.held;
    if (!lock) return;
    await Promise.allSettled(this.lockedOn.map((member) => removeLock(member.exec, this.dir, lock)));
    this.lockedOn = [];
    this.held = undefined;
  }
}

/**
 * Renews the lease on one member when `nextRenewal` says, one renewal at a time: a renewal that fails is reported and
 * tried again soon; one that finds the lock taken over, or a lease that runs out meanwhile (also while a renewal waits
 * on a host that does not answer), is reported as lost, once.
 */
class LeaseKeeper {
  private expiresAt: number;
  private failed = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly member: LockMember,
    private readonly dir: string,
    private readonly lock: LockInfo,
    private readonly ttlMs: number,
    private readonly watch: LeaseWatch,
  ) {
    this.expiresAt = Date.parse(lock.expiresAt);
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    const next = nextRenewal(this.ttlMs, this.expiresAt, Date.now(), this.failed);
    if (next === 'lost') {
      this.lose('it expired before a renewal got through');
      return;
    }
    this.timer = setTimeout(() => void this.renew(), next);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    this.timer = setTimeout(() => this.lose('it expired before a renewal got through'), Math.max(0, this.expiresAt - Date.now()));
    this.timer.unref();
    const now = new Date();
    try {
      const renewed = await renewLock(this.member.exec, this.dir, this.lock, now, this.ttlMs);
      if (this.stopped) return;
      if (!renewed) {
        this.lose('another deploy has taken it over');
        return;
      }
      this.expiresAt = now.getTime() + this.ttlMs;
      this.failed = false;
    } catch (error) {
      if (this.stopped) return;
      this.failed = true;
      this.watch.renewFailed?.(this.member.id, error as Error);
    }
    clearTimeout(this.timer);
    this.schedule();
  }

  private lose(reason: string): void {
    if (this.stopped) return;
    this.stop();
    this.watch.lost?.(this.member.id, reason);
  }
}
