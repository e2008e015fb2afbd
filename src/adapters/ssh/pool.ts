/**
 * The SSH connections of one command, keyed by hop: a host reached through jump hosts is connected to over a
 * channel of the last jump host's connection, and each connection is shared by every route through it (a
 * bastion is logged in to once, whatever number of hosts sit behind it). A connection closes with its last user.
 */
import type { Duplex } from 'node:stream';
import { describeHop, type SshHop, type SshRoute } from '../../core/ssh-route.js';
import { HostError } from '../../errors.js';
import { connectHost, type SshOptions } from './connect.js';
import type { SshHostConnection } from './connection.js';

/** What every connection of the pool shares: the passphrase, timeouts. */
export type PoolOptions = Pick<SshOptions, 'passphrase' | 'agent' | 'readyTimeoutMs' | 'keepaliveIntervalMs'>;

interface Entry {
  connection: Promise<SshHostConnection>;
  users: number;
}

export class SshPool {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: PoolOptions = {}) {}

  /** A connection to the route's target, through its jump hosts; closing it lets go of every connection it used. */
  async connect(route: SshRoute): Promise<SshHostConnection> {
    const hops = [...route.jumps, route.target];
    const held: string[] = [];
    let via: { hop: SshHop; connection: SshHostConnection } | undefined;
    try {
      for (const hop of hops) {
        const key = `${held.at(-1) ?? ''}>${hopKey(hop)}`;
        held.push(key);
        const connection = await this.acquire(key, hop, via).catch((error: unknown) => {
          throw hop === route.target ? error : jumpFailure(route.target, hop, error);
        });
        via = { hop, connection };
      }
    } catch (error) {
      await this.release(held);
      throw error;
    }
    return leased(via!.connection, () => this.release(held));
  }

  private acquire(key: string, hop: SshHop, via: { hop: SshHop; connection: SshHostConnection } | undefined): Promise<SshHostConnection> {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { connection: this.open(hop, via), users: 0 };
      // Routes waiting on it share its failure; it is forgotten once they let go of it.
      entry.connection.catch(() => undefined);
      this.entries.set(key, entry);
    }
    entry.users++;
    return entry.connection;
  }

  private async open(hop: SshHop, via: { hop: SshHop; connection: SshHostConnection } | undefined): Promise<SshHostConnection> {
    const sock = via ? await forwardTo(via, hop) : undefined;
    const named = hop.sshConfig
      ? { named: { name: hop.name, sshConfig: hop.sshConfig.path, gaveHostName: hop.sshConfig.gaveHostName } }
      : {};
    return connectHost(
      { host: hop.host, port: hop.port, user: hop.user },
      {
        ...this.options,
        identityFiles: hop.identityFiles,
        knownHosts: hop.knownHosts,
        ...(sock ? { sock } : {}),
        ...named,
      },
    );
  }

  /** Lets go of the keys, last (the target) first: a connection closes before the jump host it runs through. */
  private async release(keys: readonly string[]): Promise<void> {
    for (const key of [...keys].reverse()) {
      const entry = this.entries.get(key);
      if (!entry || --entry.users > 0) continue;
      this.entries.delete(key);
      await entry.connection.then(
        (connection) => connection.close(),
        () => undefined,
      );
    }
  }
}

/** Two routes share a connection when they reach the same sshd as the same user with the same keys and trust. */
function hopKey(hop: SshHop): string {
  return JSON.stringify([hop.user, hop.host, hop.port, hop.identityFiles.map((source) => source.path), hop.knownHosts]);
}

/** A channel from the jump host to the next hop's sshd (the jump host resolves its name). */
async function forwardTo(via: { hop: SshHop; connection: SshHostConnection }, hop: SshHop): Promise<Duplex> {
  try {
    return await via.connection.openTcp(hop.host, hop.port);
  } catch (error) {
    const reason =
      error instanceof HostError ? error.reason.replace(/^cannot connect to \S+ from the host: /, '') : (error as Error).message;
    const alias =
      hop.sshConfig && !hop.sshConfig.gaveHostName && hop.name === hop.host
        ? ` (no Host in ${hop.sshConfig.path} gives ${hop.name} a HostName)`
        : '';
    throw new HostError(hop.name, `jump host ${describeHop(via.hop)} cannot reach ${hop.host}:${hop.port}: ${reason}${alias}`, {
      cause: error,
    });
  }
}

/** A failure on the way names the jump host it happened at; the deploy shows it under the target. */
function jumpFailure(target: SshHop, hop: SshHop, error: unknown): unknown {
  if (!(error instanceof HostError)) return error;
  if (error.reason.startsWith('jump host ')) return new HostError(target.name, error.reason, { cause: error });
  return new HostError(target.name, `jump host ${describeHop(hop)}: ${error.reason}`, { cause: error });
}

/** The shared connection, closed for this user only. */
function leased(connection: SshHostConnection, release: () => Promise<void>): SshHostConnection {
  let closing: Promise<void> | undefined;
  return {
    target: connection.target,
    docker: connection.docker,
    exec: (argv, options) => connection.exec(argv, options),
    openTcp: (host, port) => connection.openTcp(host, port),
    close: () => (closing ??= release()),
  };
}
