/**
 * One SSH connection to a host, once connected: exec and forwarded TCP channels, the Docker API
 * over channels of its own (see docker-agent.ts), and failing everything at once when it ends.
 * Docker API channels go straight to the engine's Unix socket (OpenSSH's direct-streamlocal
 * channels) when the host's docker CLI would use one, else through `docker system dial-stdio`
 * exec channels, which start a docker process on the host each.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import '../lazy-dockerode.js';
import Docker from 'dockerode';
import type { ClientCallback, ClientChannel, Client as SshClient } from 'ssh2';
import { DOCKER_ENDPOINT_PROBE, type DockerEndpoint, dockerEndpoint, parseDockerProbe } from '../../core/docker-endpoint.js';
import { shellCommand } from '../../core/shell-quote.js';
import { HostError } from '../../errors.js';
import type { ExecOptions, ExecResult, HostConnection } from '../ports.js';
import { ChannelSocket, DockerAgent, type DockerChannel } from './docker-agent.js';
import { collectExec } from './exec.js';
import { SessionPool } from './session-pool.js';

/** NODE_DEBUG=pipeline shows how each host's Docker engine is reached. */
const debug = debuglog('pipeline');

export interface SshTarget {
  host: string;
  port: number;
  user: string;
}

/** One SSH connection to a host: the Docker API, exec channels and TCP channels over it. */
export interface SshHostConnection extends HostConnection {
  readonly target: SshTarget;
}

/** OpenSSH's default MaxSessions: channels one connection may have open at once. */
const MAX_SESSIONS = 10;
const DIAL_STDIO = 'docker system dial-stdio';
const DOCKER_PROBE_TIMEOUT_MS = 20_000;
/** How long close() waits for the server to acknowledge before dropping the socket. */
const CLOSE_GRACE_MS = 2_000;
/** How long a channel open refused by sshd is retried (see execChannel). */
const CHANNEL_RETRY_MS = 10_000;

/** The connection over `client`, made before the client connects: it listens to the client's whole life. */
export class SshConnection implements SshHostConnection {
  readonly docker: Docker;
  private readonly agent: DockerAgent;
  private readonly sessions: SessionPool;
  /** How Docker API channels reach the engine, found out on the first API call. */
  private dockerRoute: Promise<DockerEndpoint> | undefined;
  /** Aborts everything running on a channel when the connection ends. */
  private readonly inFlight = new Set<(error: HostError) => void>();
  /** Set once the connection is closed or lost: why new and pending calls fail. */
  private endedError: HostError | undefined;
  private lastError: Error | undefined;
  private ready = false;
  private readonly closed: Promise<void>;

  constructor(
    readonly target: SshTarget,
    private readonly client: SshClient,
  ) {
    this.agent = new DockerAgent(
      () => this.track(new ChannelSocket(this.target.host)),
      () => this.openDockerChannel(),
    );
    this.sessions = new SessionPool(MAX_SESSIONS, () => this.reclaimIdleDockerSocket());
    const dockerOptions: Docker.DockerOptions & { agent: http.Agent } = {
      protocol: 'http',
      host: 'docker',
      port: 80,
      agent: this.agent,
    };
    this.docker = new Docker(dockerOptions);
    this.closed = new Promise((resolve) => this.client.once('close', () => resolve()));
    // Registered for the whole life of the client: an 'error' without a listener would crash the process.
    this.client.on('error', (error) => {
      this.lastError = error;
    });
    this.client.once('ready', () => {
      this.ready = true;
    });
    this.client.on('close', () => this.onClientClose());
  }

  async exec(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const command = shellCommand(argv);
    const channel = await this.openChannel(command);
    return collectExec(channel, argv[0]!, options, this.target.host, this.inFlight);
  }

  /** Forwarded TCP channels are not sessions: sshd's MaxSessions does not count them. */
  async openTcp(host: string, port: number): Promise<Duplex> {
    const channel = await this.forwardChannel(host, port);
    const socket = this.track(new ChannelSocket(this.target.host));
    socket.attach(channel);
    return socket;
  }

  async close(): Promise<void> {
    if (!this.endedError) {
      this.end(new HostError(this.target.host, 'connection closed'));
      this.client.end();
    }
    // A server that never acknowledges must not keep the process alive.
    const drop = setTimeout(() => this.client.destroy(), CLOSE_GRACE_MS);
    drop.unref();
    await this.closed;
    clearTimeout(drop);
  }

  private onClientClose(): void {
    if (!this.ready) return; // connectHost reports failures before ready
    const reason = this.lastError ? ` (${this.lastError.message})` : '';
    this.end(new HostError(this.target.host, `connection lost${reason}`, { cause: this.lastError }));
  }

  /** Fail everything pending or running with `error`, and every later call too. */
  private end(error: HostError): void {
    if (this.endedError) return;
    this.endedError = error;
    this.sessions.failWaiting(error);
    for (const abort of [...this.inFlight]) abort(error);
    this.agent.destroy();
  }

  /** Open an exec channel once sshd's session limit allows it. */
  private async openChannel(command: string): Promise<ClientChannel> {
    if (this.endedError) throw this.endedError;
    const release = await this.sessions.acquire();
    try {
      const channel = await this.execChannel(command);
      channel.once('close', release);
      return channel;
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * sshd frees a session only once its command has exited, a moment after the channel closed, so
   * a refused open is retried for a while before it counts as a failure.
   */
  private async execChannel(command: string): Promise<ClientChannel> {
    const deadline = Date.now() + CHANNEL_RETRY_MS;
    for (let delay = 25; ; delay = Math.min(delay * 2, 1_000)) {
      try {
        return await this.tryExecChannel(command);
      } catch (error) {
        if (this.endedError) throw this.endedError;
        const refused = isChannelRefused(error);
        if (!refused || Date.now() + delay > deadline) {
          const hint = refused ? ' (the host refuses more sessions on this connection: check MaxSessions in its sshd_config)' : '';
          throw new HostError(this.target.host, `cannot open an SSH channel: ${(error as Error).message}${hint}`, { cause: error });
        }
        await new Promise((resume) => setTimeout(resume, delay));
      }
    }
  }

  private tryExecChannel(command: string): Promise<ClientChannel> {
    return this.requestChannel((callback) => this.client.exec(command, callback));
  }

  /** Asks sshd for a channel; the error is ssh2's own, for the caller to describe. */
  private requestChannel(request: (callback: ClientCallback) => void): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.endedError) return reject(this.endedError);
      try {
        request((error, channel) => (error ? reject(error) : resolve(channel)));
      } catch (error) {
        reject(error);
      }
    });
  }

  /**
   * A channel for one Docker API connection: to the engine's socket when the host allows it,
   * else a dial-stdio command for this and every later connection.
   */
  private async openDockerChannel(): Promise<DockerChannel> {
    this.dockerRoute ??= this.findDockerEndpoint();
    const endpoint = await this.dockerRoute;
    if (endpoint.kind === 'socket') {
      try {
        return { channel: await this.requestChannel((callback) => this.client.openssh_forwardOutStreamLocal(endpoint.path, callback)) };
      } catch (error) {
        if (this.endedError) throw this.endedError;
        // E.g. AllowStreamLocalForwarding no, or a server that is not OpenSSH: the docker CLI still works.
        const reason = `sshd refused a channel to ${endpoint.path}: ${(error as Error).message}`;
        debug('%s: %s; using %s', this.target.host, reason, DIAL_STDIO);
        this.dockerRoute = Promise.resolve({ kind: 'cli', reason });
      }
    }
    return { channel: await this.openChannel(DIAL_STDIO), command: DIAL_STDIO };
  }

  /** Asks the deploy user's session which engine its docker CLI would use (one command, once per connection). */
  private async findDockerEndpoint(): Promise<DockerEndpoint> {
    let endpoint: DockerEndpoint;
    try {
      const probe = await this.exec([...DOCKER_ENDPOINT_PROBE], { timeoutMs: DOCKER_PROBE_TIMEOUT_MS });
      endpoint =
        probe.code === 0
          ? dockerEndpoint(parseDockerProbe(probe.stdout))
          : { kind: 'cli', reason: `the probe of docker settings failed (exit ${probe.code}): ${probe.stderr.trim()}` };
    } catch (error) {
      if (this.endedError) throw this.endedError;
      endpoint = { kind: 'cli', reason: `the probe of docker settings failed: ${(error as Error).message}` };
    }
    debug(
      '%s: Docker API %s',
      this.target.host,
      endpoint.kind === 'socket' ? `on ${endpoint.path} (direct-streamlocal)` : `over ${DIAL_STDIO} (${endpoint.reason})`,
    );
    return endpoint;
  }

  private forwardChannel(host: string, port: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      const failed = (error: Error): void => {
        const reason = error.message.replace(/^\(SSH\) Channel open failure: /, '');
        reject(
          this.endedError ??
            new HostError(this.target.host, `cannot connect to ${host}:${port} from the host: ${reason}`, { cause: error }),
        );
      };
      if (this.endedError) return reject(this.endedError);
      try {
        // The originator address is informational for sshd; there is no local socket behind it.
        this.client.forwardOut('127.0.0.1', 0, host, port, (error, channel) => (error ? failed(error) : resolve(channel)));
      } catch (error) {
        failed(error as Error);
      }
    });
  }

  /** Destroy `socket` with the reason if the connection ends while it is open. */
  private track(socket: ChannelSocket): ChannelSocket {
    const abort = (error: HostError): void => {
      socket.destroy(error);
    };
    this.inFlight.add(abort);
    socket.once('close', () => this.inFlight.delete(abort));
    return socket;
  }

  /** Something waits for a session: give it the slot of an idle keep-alive dial-stdio socket. */
  private reclaimIdleDockerSocket(): void {
    for (const sockets of Object.values(this.agent.freeSockets)) {
      // A destroyed socket stays listed until its 'close' event: skip it, or every waiter would pick the same one.
      const idle = sockets?.find((socket) => !socket.destroyed && socket instanceof ChannelSocket && socket.holdsSession);
      if (idle) {
        idle.destroy();
        return;
      }
    }
  }
}

/** ssh2's error for SSH_MSG_CHANNEL_OPEN_FAILURE: sshd at its MaxSessions limit answers with it. */
function isChannelRefused(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('(SSH) Channel open failure');
}
