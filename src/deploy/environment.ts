import { hostname, userInfo } from 'node:os';
import type { PipelineConfig } from '../config/schema.js';
import type { CiInfo } from '../core/ci.js';
import { durationMs } from '../core/duration.js';
import type { DeployPlan } from '../core/plan.js';
import { engineCall } from './host.js';
import { HostError, StageError } from '../errors.js';
import type { DeployConnection, Deps } from '../runner/context.js';
import { acquireLock, describeLock, lockDir, newLock, releaseLock, renewLock, type LockInfo } from './lock.js';

/** The holder a lock records: who runs the deploy, where, and the CI job if any. */
export function lockHolder(ci: CiInfo, env: NodeJS.ProcessEnv): LockInfo['holder'] {
  const user = env.CIRCLE_USERNAME || env.GITHUB_ACTOR || safeUsername();
  return { user, machine: hostname(), ...(ci.buildUrl ? { ciUrl: ci.buildUrl } : {}) };
}

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/**
 * What a deploy to one environment holds while it runs: a connection per
 * host and the environment's lock on every host. `release()` lets go of both,
 * whatever happened; it is safe to call more than once.
 */
export class EnvironmentSession {
  readonly hosts = new Map<string, DeployConnection>();
  private readonly connecting = new Map<string, Promise<DeployConnection>>();
  private lock: LockInfo | undefined;
  private lockedOn: string[] = [];
  private renewTimer: NodeJS.Timeout | undefined;
  private released = false;

  constructor(readonly plan: DeployPlan, private readonly config: PipelineConfig, private readonly deps: Deps) {}

  /**
   * Connects to one host (host key checked, one SSH connection) and checks that
   * its Docker engine answers; asked again, it gives the same connection.
   */
  connect(hostId: string): Promise<DeployConnection> {
    let connecting = this.connecting.get(hostId);
    if (!connecting) {
      connecting = this.open(hostId);
      this.connecting.set(hostId, connecting);
    }
    return connecting;
  }

  /**
   * Starts connecting to every host (`parallel` at a time) without waiting:
   * a run does this while it builds and tests, and its deploy finds the
   * connections open. Failures wait for `connect()` to report them.
   */
  prepare(): void {
    const ids = this.plan.hosts.map((host) => host.address.id);
    const next = async (): Promise<void> => {
      for (let id = ids.shift(); id !== undefined && !this.released; id = ids.shift()) await this.connect(id).catch(() => undefined);
    };
    for (let i = 0; i < Math.min(this.config.parallel, ids.length); i++) void next();
  }

  private async open(hostId: string): Promise<DeployConnection> {
    const host = this.plan.hosts.find((h) => h.address.id === hostId)!;
    const connection = await this.deps.connect(host.address);
    if (this.released) {
      await connection.close();
      throw new StageError('stopped');
    }
    this.hosts.set(hostId, connection);
    await engineCall(hostId, connection.docker.version(), 'Docker engine not answering');
    return connection;
  }

  /** Takes the environment's lock on every host, or none: a held lock fails naming its holder. */
  async acquire(fields: Omit<LockInfo, 'id' | 'acquiredAt' | 'expiresAt' | 'environment'>): Promise<{ tookOver: LockInfo[] }> {
    const ttlMs = durationMs(this.config.lockTtl);
    const lock = newLock({ ...fields, environment: this.plan.environment }, new Date(), ttlMs);
    const dir = lockDir(this.config.project, this.plan.environment);
    const results = await Promise.allSettled([...this.hosts].map(async ([id, connection]) => ({ id, result: await acquireLock(connection.exec.bind(connection), dir, lock, new Date()) })));
    const got = results.flatMap((r) => (r.status === 'fulfilled' && r.value.result.acquired ? [r.value.id] : []));
    this.lock = lock;
    this.lockedOn = got;
    const failure = results.find((r) => r.status === 'rejected' || !r.value.result.acquired);
    if (failure) {
      await this.unlock();
      if (failure.status === 'rejected') throw new HostError(String((failure.reason as HostError).host ?? ''), `cannot take the deploy lock: ${(failure.reason as Error).message}`);
      const held = failure.value.result as { heldBy?: LockInfo };
      throw new StageError(`${this.plan.environment} is locked by ${held.heldBy ? describeLock(held.heldBy) : 'another deploy'} (on ${failure.value.id}); if that deploy is dead, run: pipeline lock release ${this.plan.environment}`);
    }
    // Renewed while the deploy runs, so only a dead deploy's lock ever expires.
    this.renewTimer = setInterval(() => { void this.renew(ttlMs); }, Math.max(1000, ttlMs / 3));
    this.renewTimer.unref();
    return { tookOver: results.flatMap((r) => (r.status === 'fulfilled' && 'tookOver' in r.value.result && r.value.result.tookOver ? [r.value.result.tookOver] : [])) };
  }

  private async renew(ttlMs: number): Promise<void> {
    const dir = lockDir(this.config.project, this.plan.environment);
    await Promise.allSettled(this.lockedOn.map((id) => renewLock(this.exec(id), dir, this.lock!, new Date(), ttlMs)));
  }

  private exec(id: string) {
    const connection = this.hosts.get(id)!;
    return connection.exec.bind(connection);
  }

  /** Releases this deploy's lock on every host that has it. */
  async unlock(): Promise<void> {
    clearInterval(this.renewTimer);
    if (!this.lock) return;
    const dir = lockDir(this.config.project, this.plan.environment);
    const lock = this.lock;
    await Promise.allSettled(this.lockedOn.map((id) => releaseLock(this.exec(id), dir, lock)));
    this.lockedOn = [];
    this.lock = undefined;
  }

  /** Unlocks and disconnects (a stable function, for the run's clean-ups). */
  readonly release = async (): Promise<void> => {
    if (this.released) return;
    this.released = true;
    await this.unlock();
    await Promise.allSettled([...this.hosts.values()].map((connection) => connection.close()));
  };
}
