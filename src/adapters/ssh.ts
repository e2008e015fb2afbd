/**
 * One SSH connection per deploy host, carrying both remote commands and the Docker API.
 * Docker API requests travel over channels of that connection (docker-modem's own `ssh` protocol
 * would open a new SSH connection for every request): straight to the engine's Unix socket
 * (OpenSSH's direct-streamlocal channels) when the host's docker CLI would use one, else through
 * `docker system dial-stdio` exec channels, which start a docker process on the host each.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { constants as osConstants } from 'node:os';
import { Duplex } from 'node:stream';
import { debuglog } from 'node:util';
import './lazy-dockerode.js';
import Docker from 'dockerode';
import ssh2 from 'ssh2';
import type { ClientCallback, ClientChannel, ConnectConfig, ServerHostKeyAlgorithm } from 'ssh2';
import { DOCKER_ENDPOINT_PROBE, dockerEndpoint, parseDockerProbe, type DockerEndpoint } from '../core/docker-endpoint.js';
import { ConfigError, HostError } from '../errors.js';
import { checkHostKey, knownHostKeyTypes, parseKnownHosts, type HostKeyVerdict, type KnownHostEntry } from './known-hosts.js';
import { shellCommand } from './shell-quote.js';
import type { ExecResult, HostConnection } from './ports.js';

export { shellQuote } from './shell-quote.js';

const { Client, utils: sshUtils } = ssh2;
type SshClient = InstanceType<typeof Client>;
/** NODE_DEBUG=pipeline shows how each host's Docker engine is reached. */
const debug = debuglog('pipeline');

export interface SshTarget {
  host: string;
  port: number;
  user: string;
}

export interface SshOptions {
  /** Path to a private key; '~' already expanded by the caller. */
  identityFile?: string;
  /** For an encrypted key. */
  passphrase?: string;
  /** SSH agent socket; default process.env.SSH_AUTH_SOCK when no identityFile. */
  agent?: string;
  /** Path to known_hosts; required. */
  knownHosts: string;
  /** Default 15000. */
  readyTimeoutMs?: number;
  /** Default 10000. */
  keepaliveIntervalMs?: number;
}

export type { ExecResult } from './ports.js';

/** One SSH connection to a host: the Docker API, exec channels and TCP channels over it. */
export interface SshHostConnection extends HostConnection {
  readonly target: SshTarget;
}

/** OpenSSH's default MaxSessions: channels one connection may have open at once. */
const MAX_SESSIONS = 10;
/** Docker API sockets at once; with dial-stdio, the rest of MAX_SESSIONS stays free for exec(). */
const DOCKER_MAX_SOCKETS = 8;
const DIAL_STDIO = 'docker system dial-stdio';
const DOCKER_PROBE_TIMEOUT_MS = 20_000;
const DEFAULT_READY_TIMEOUT_MS = 15_000;
const DEFAULT_KEEPALIVE_INTERVAL_MS = 10_000;
/** Missed keepalive replies before the connection counts as lost. */
const KEEPALIVE_COUNT_MAX = 3;
/** How long close() waits for the server to acknowledge before dropping the socket. */
const CLOSE_GRACE_MS = 2_000;
const STDERR_TAIL_CHARS = 2_000;
/** How long a channel open refused by sshd is retried (see execChannel). */
const CHANNEL_RETRY_MS = 10_000;

/** Open one SSH connection to `target`, checking its host key against `options.knownHosts`. */
export async function connectHost(target: SshTarget, options: SshOptions): Promise<SshHostConnection> {
  const knownHosts = await readKnownHosts(options.knownHosts);
  const auth = await resolveAuth(options);
  const connection = new SshConnection(target);
  await connection.open(options, knownHosts, auth);
  return connection;
}

// ---------------------------------------------------------------------------------------------
// Preparing to connect: known_hosts and credentials

async function readKnownHosts(path: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await readFile(path, 'utf8'));
  } catch (error) {
    // Like OpenSSH, a missing file only means no host is known yet; the verdict says how to fix it.
    if (errorCode(error) === 'ENOENT') return [];
    throw new ConfigError(`cannot read known_hosts file ${path}: ${errorCode(error) ?? String(error)}`, { cause: error });
  }
}

interface Auth {
  config: Pick<ConnectConfig, 'privateKey' | 'passphrase' | 'agent'>;
  /** Names the credential in error messages, e.g. "key /home/me/.ssh/id_ed25519". */
  description: string;
}

async function resolveAuth(options: SshOptions): Promise<Auth> {
  if (options.identityFile !== undefined) {
    const privateKey = await loadPrivateKey(options.identityFile, options.passphrase);
    const config: Auth['config'] = { privateKey };
    if (options.passphrase !== undefined) config.passphrase = options.passphrase;
    if (options.agent !== undefined) config.agent = options.agent;
    return { config, description: `key ${options.identityFile}` };
  }
  const agent = options.agent ?? process.env.SSH_AUTH_SOCK;
  if (!agent) throw new ConfigError('no SSH identity file given and no SSH agent running (SSH_AUTH_SOCK is not set)');
  return { config: { agent }, description: `ssh agent ${agent}` };
}

/** Read and decode the key now, so a bad key is reported by file name instead of as an auth failure. */
async function loadPrivateKey(file: string, passphrase: string | undefined): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (error) {
    throw new ConfigError(`cannot read SSH private key ${file}: ${errorCode(error) ?? String(error)}`, { cause: error });
  }
  const parsed = sshUtils.parseKey(data, passphrase);
  if (parsed instanceof Error) throw new ConfigError(describeKeyProblem(file, parsed, passphrase !== undefined));
  if (parsed.getPrivatePEM() === null) throw new ConfigError(`SSH identity file ${file} holds a public key, not a private key`);
  return data;
}

function describeKeyProblem(file: string, error: Error, hadPassphrase: boolean): string {
  if (/no passphrase given/i.test(error.message)) return `SSH private key ${file} is encrypted and no passphrase was given`;
  if (hadPassphrase && /passphrase/i.test(error.message)) return `cannot decrypt SSH private key ${file}: wrong passphrase`;
  return `SSH private key ${file} cannot be used: ${error.message}`;
}

/**
 * Prefer the host key algorithms known_hosts already has for this host (as OpenSSH does), so a
 * host with several keys is not reported as changed just because it offered another type first.
 */
function hostKeyAlgorithms(types: string[]): ServerHostKeyAlgorithm[] | undefined {
  const defaults: ServerHostKeyAlgorithm[] = [
    'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
    'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
  ];
  const known = new Set(types);
  const isKnown = (algorithm: string): boolean => known.has(algorithm.startsWith('rsa-sha2-') ? 'ssh-rsa' : algorithm);
  if (!defaults.some(isKnown)) return undefined;
  // Stable partition: known types first, each group in ssh2's own order of preference.
  return [...defaults.filter(isKnown), ...defaults.filter((a) => !isKnown(a))];
}

// ---------------------------------------------------------------------------------------------
// Errors

function hostKeyError(host: string, port: number, knownHosts: string, verdict: HostKeyVerdict): HostError {
  if (verdict === 'unknown') {
    const scan = port === 22 ? `ssh-keyscan ${host}` : `ssh-keyscan -p ${port} ${host}`;
    return new HostError(host, `host key not in ${knownHosts}; after checking the host's key fingerprint, add it with: ${scan} >> ${knownHosts}`);
  }
  const what = verdict === 'revoked' ? 'is marked @revoked in' : 'does not match';
  return new HostError(host, `host key ${what} ${knownHosts} (possible man-in-the-middle attack); refusing to connect`);
}

/** A short, actionable reason for a failed connection attempt. No secrets: messages come from ssh2 and the OS. */
function connectFailure(target: SshTarget, timeoutMs: number, auth: Auth, error: Error & { level?: string; code?: unknown }): HostError {
  const reason = describeConnectError(target, timeoutMs, auth, error);
  return new HostError(target.host, reason, { cause: error });
}

function describeConnectError(target: SshTarget, timeoutMs: number, auth: Auth, error: Error & { level?: string; code?: unknown }): string {
  if (error.level === 'client-authentication') return `authentication failed for user ${target.user} (${auth.description})`;
  if (error.level === 'client-timeout') return `timed out after ${seconds(timeoutMs)}s connecting on port ${target.port}`;
  switch (error.code) {
    case 'ECONNREFUSED':
      return `connection refused on port ${target.port}`;
    case 'ENOTFOUND':
      return 'cannot resolve host name';
    case 'EAI_AGAIN':
      return 'cannot resolve host name (temporary DNS failure)';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `host unreachable (${error.code})`;
    case 'ECONNRESET':
      return `connection reset during SSH handshake on port ${target.port}`;
    default:
      return `cannot connect on port ${target.port}: ${error.message}`;
  }
}

/** ssh2's error for SSH_MSG_CHANNEL_OPEN_FAILURE: sshd at its MaxSessions limit answers with it. */
function isChannelRefused(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('(SSH) Channel open failure');
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** 15000 → "15", 1500 → "1.5": durations in messages are in seconds. */
function seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

// ---------------------------------------------------------------------------------------------
// The connection

class SshConnection implements SshHostConnection {
  readonly docker: Docker;
  private readonly client: SshClient = new Client();
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

  constructor(readonly target: SshTarget) {
    this.agent = new DockerAgent(() => this.track(new ChannelSocket(this.target.host)), () => this.openDockerChannel());
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
    this.client.on('error', (error) => { this.lastError = error; });
    this.client.on('close', () => this.onClientClose());
  }

  open(options: SshOptions, knownHosts: KnownHostEntry[], auth: Auth): Promise<void> {
    const { host, port, user } = this.target;
    const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    // ssh2 only reports "Host denied (verification failed)": keep our verdict for a precise message.
    let verdict: HostKeyVerdict | undefined;
    const algorithms = hostKeyAlgorithms(knownHostKeyTypes(knownHosts, host, port));

    return new Promise((resolve, reject) => {
      const fail = (): void => {
        cleanup();
        this.client.destroy();
        if (verdict !== undefined && verdict !== 'match') reject(hostKeyError(host, port, options.knownHosts, verdict));
        else if (this.lastError) reject(connectFailure(this.target, timeoutMs, auth, this.lastError));
        else reject(new HostError(host, `connection closed before the SSH session was ready (port ${port})`));
      };
      const succeed = (): void => {
        cleanup();
        this.ready = true;
        // Remote commands are small request/answer exchanges: with Nagle's algorithm each waits for a delayed ACK.
        this.client.setNoDelay(true);
        resolve();
      };
      const cleanup = (): void => {
        this.client.removeListener('ready', succeed);
        this.client.removeListener('error', fail);
        this.client.removeListener('close', fail);
      };
      this.client.once('ready', succeed).on('error', fail).on('close', fail);

      const config: ConnectConfig = {
        host,
        port,
        username: user,
        ...auth.config,
        readyTimeout: timeoutMs,
        keepaliveInterval: options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
        keepaliveCountMax: KEEPALIVE_COUNT_MAX,
        hostVerifier: (key: Buffer) => {
          verdict = checkHostKey(knownHosts, host, port, key);
          return verdict === 'match';
        },
      };
      if (algorithms) config.algorithms = { serverHostKey: algorithms };
      try {
        this.client.connect(config);
      } catch (error) {
        this.lastError = error as Error;
        fail();
      }
    });
  }

  async exec(argv: string[], options: { stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<ExecResult> {
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
    if (!this.ready) return; // open() reports failures before ready
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
    const endpoint = await (this.dockerRoute ??= this.findDockerEndpoint());
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
      endpoint = probe.code === 0
        ? dockerEndpoint(parseDockerProbe(probe.stdout))
        : { kind: 'cli', reason: `the probe of docker settings failed (exit ${probe.code}): ${probe.stderr.trim()}` };
    } catch (error) {
      if (this.endedError) throw this.endedError;
      endpoint = { kind: 'cli', reason: `the probe of docker settings failed: ${(error as Error).message}` };
    }
    debug('%s: Docker API %s', this.target.host, endpoint.kind === 'socket' ? `on ${endpoint.path} (direct-streamlocal)` : `over ${DIAL_STDIO} (${endpoint.reason})`);
    return endpoint;
  }

  private forwardChannel(host: string, port: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      const failed = (error: Error): void => {
        const reason = error.message.replace(/^\(SSH\) Channel open failure: /, '');
        reject(this.endedError ?? new HostError(this.target.host, `cannot connect to ${host}:${port} from the host: ${reason}`, { cause: error }));
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

// ---------------------------------------------------------------------------------------------
// exec()

function collectExec(
  channel: ClientChannel,
  program: string,
  options: { stdin?: string | Buffer; timeoutMs?: number },
  host: string,
  inFlight: Set<(error: HostError) => void>,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let settled = false;

    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      inFlight.delete(abort);
      finish();
    };
    const abort = (error: HostError): void => {
      settle(() => reject(error));
      channel.close();
    };
    inFlight.add(abort);

    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        killRemote(channel);
        abort(new HostError(host, `timed out after ${seconds(options.timeoutMs!)}s running ${program}`));
      }, options.timeoutMs);
    }

    channel.on('data', (chunk: Buffer) => stdout.push(chunk));
    channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    channel.on('error', (error: Error) => abort(new HostError(host, `SSH channel failed running ${program}: ${error.message}`, { cause: error })));
    // The exit status comes from 'close', not 'exit': a fast command's 'exit' can be emitted before
    // this listener exists, in the same packet batch that completed the channel open.
    channel.on('close', (code?: number | null, signal?: string) =>
      settle(() => {
        const status = exitCode(code, signal);
        if (status === undefined) reject(new HostError(host, `${program} ended without an exit status`));
        else resolve({ code: status, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
      }),
    );
    channel.end(options.stdin);
  });
}

/**
 * Send SIGKILL to the remote command's process group. Needed because sshd does not stop a command
 * without a tty when its channel closes. ssh2's channel.signal() does nothing once stdin is ended
 * (it checks `writable`), and exec() always ends stdin, so ask the protocol layer directly.
 */
function killRemote(channel: ClientChannel): void {
  const internals = channel as unknown as {
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, signal: string): void } };
  };
  const protocol = internals._client?._protocol;
  const outgoing = internals.outgoing;
  if (protocol && outgoing && (outgoing.state === 'open' || outgoing.state === 'eof')) protocol.signal(outgoing.id, 'KILL');
  else channel.signal('KILL');
}

/** A process killed by a signal reports 128 + signal number, as shells do. */
function exitCode(code: number | null | undefined, signal: string | undefined): number | undefined {
  if (typeof code === 'number') return code;
  if (!signal) return undefined;
  const signals = osConstants.signals as Record<string, number>;
  return 128 + (signals[signal.startsWith('SIG') ? signal : `SIG${signal}`] ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Docker API over SSH channels

/** What one Docker API connection runs over: an SSH channel, and for dial-stdio the command behind it. */
interface DockerChannel {
  channel: ClientChannel;
  command?: string;
}

/**
 * Keep-alive http.Agent whose connections are SSH channels from `openChannel`.
 * createConnection returns the socket at once, still connecting (as net.connect does): Node's
 * Agent counts a socket toward maxSockets only once it has it, so handing sockets back later
 * through the callback would let every concurrent request open its own channel.
 */
class DockerAgent extends http.Agent {
  constructor(
    private readonly newSocket: () => ChannelSocket,
    private readonly openChannel: () => Promise<DockerChannel>,
  ) {
    super({ keepAlive: true, maxSockets: DOCKER_MAX_SOCKETS, maxTotalSockets: DOCKER_MAX_SOCKETS });
  }

  override createConnection(): Duplex {
    const socket = this.newSocket();
    this.openChannel().then(
      ({ channel, command }) => socket.attach(channel, command),
      (error: unknown) => socket.destroy(error as Error),
    );
    return socket;
  }
}

/**
 * A Duplex over one SSH channel, shaped enough like a net.Socket for Node's http client.
 * Writes wait until the channel is attached. For a `command` channel, closing before any byte
 * arrived means the command failed (e.g. no `docker` on the host): the socket then fails with the
 * exit status and stderr instead of letting http report "socket hang up".
 */
class ChannelSocket extends Duplex {
  /** net.Socket's flag; http checks it when arming request timeouts. */
  connecting = true;
  private channel: ClientChannel | undefined;
  private readonly whenAttached: Array<() => void> = [];
  private bytesIn = 0;
  private remoteEnded = false;
  private stderrTail = '';
  private idleTimeoutMs = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private command: string | undefined;

  constructor(private readonly host: string) {
    super({ allowHalfOpen: false });
  }

  /** A command channel counts against sshd's MaxSessions; forwarded channels do not. */
  get holdsSession(): boolean {
    return this.command !== undefined;
  }

  attach(channel: ClientChannel, command?: string): void {
    if (this.destroyed) {
      channel.close();
      return;
    }
    this.channel = channel;
    this.command = command;
    this.connecting = false;
    channel.on('data', (chunk: Buffer) => this.onChannelData(chunk));
    channel.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    channel.on('end', () => this.onChannelEnd());
    // 'close' carries the exit status ('exit' may already have been emitted before attach).
    channel.on('close', (code?: number | null, signal?: string) => this.onChannelClose(code, signal));
    channel.on('error', (error: Error) => this.destroy(new HostError(this.host, `SSH channel failed: ${error.message}`, { cause: error })));
    for (const resume of this.whenAttached.splice(0)) resume();
    this.touch();
    this.emit('connect');
    this.emit('ready');
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.channel) {
      this.whenAttached.push(() => this._write(chunk, encoding, callback));
      return;
    }
    this.touch();
    this.channel.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.channel) {
      this.whenAttached.push(() => this._final(callback));
      return;
    }
    this.channel.end();
    callback();
  }

  override _read(): void {
    this.channel?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.idleTimer);
    this.channel?.close();
    callback(error);
  }

  // net.Socket methods the http client and Agent call. The SSH connection has its own keepalive,
  // and its TCP socket, not this stream, is what keeps the process alive until close().
  setKeepAlive(): this {
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** Idle timeout as on net.Socket: emit 'timeout' after `ms` without traffic; 0 disables. */
  setTimeout(ms: number, callback?: () => void): this {
    this.idleTimeoutMs = ms;
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    this.touch();
    return this;
  }

  private touch(): void {
    clearTimeout(this.idleTimer);
    if (this.idleTimeoutMs > 0 && !this.destroyed) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), this.idleTimeoutMs);
      this.idleTimer.unref();
    }
  }

  private onChannelData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.touch();
    if (!this.push(chunk)) this.channel!.pause();
  }

  private onChannelEnd(): void {
    this.remoteEnded = true;
    // A silent command channel waits for 'close', which comes after the exit status.
    if (!this.failsWhenSilent()) this.push(null);
  }

  private onChannelClose(code: number | null | undefined, signal: string | undefined): void {
    clearTimeout(this.idleTimer);
    if (this.destroyed) return;
    if (this.failsWhenSilent()) {
      this.destroy(this.commandFailure(code, signal));
      return;
    }
    if (!this.remoteEnded) this.push(null);
  }

  private failsWhenSilent(): boolean {
    return this.command !== undefined && this.bytesIn === 0;
  }

  private commandFailure(code: number | null | undefined, signal: string | undefined): HostError {
    const status = signal ? `killed by ${signal}` : `exit ${code ?? 'status unknown'}`;
    const stderr = this.stderrTail.trim();
    const detail = stderr ? `: ${stderr}` : ' before answering';
    return new HostError(this.host, `cannot reach Docker: '${this.command}' failed (${status})${detail}`);
  }
}

// ---------------------------------------------------------------------------------------------

/** Counts open channels against sshd's MaxSessions; waiters get freed slots first come, first served. */
class SessionPool {
  private active = 0;
  private readonly waiting: Array<{ resolve: (release: () => void) => void; reject: (error: Error) => void }> = [];

  constructor(
    private readonly capacity: number,
    private readonly onStarved: () => void,
  ) {}

  acquire(): Promise<() => void> {
    if (this.active < this.capacity) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.onStarved();
    });
  }

  failWaiting(error: Error): void {
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }

  /** A release function that hands its slot to the next waiter, once. */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next.resolve(this.releaser());
      else this.active--;
    };
  }
}
