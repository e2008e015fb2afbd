/**
 * The Docker API over SSH channels: a keep-alive http.Agent for dockerode whose sockets are SSH
 * channels, each wrapped in a Duplex shaped enough like a net.Socket for Node's http client.
 */
import http from 'node:http';
import { Duplex } from 'node:stream';
import { inspect } from 'node:util';
import type { ClientChannel } from 'ssh2';
import { HostError } from '../../errors.js';

/** Docker API sockets at once; with dial-stdio, the rest of sshd's MaxSessions stays free for exec(). */
const DOCKER_MAX_SOCKETS = 8;
const STDERR_TAIL_CHARS = 2_000;

/** What one Docker API connection runs over: an SSH channel, and for dial-stdio the command behind it. */
export interface DockerChannel {
  channel: ClientChannel;
  command?: string;
}

/**
 * Keep-alive http.Agent whose connections are SSH channels from `openChannel`.
 * createConnection returns the socket at once, still connecting (as net.connect does): Node's
 * Agent counts a socket toward maxSockets only once it has it, so handing sockets back later
 * through the callback would let every concurrent request open its own channel.
 */
export class DockerAgent extends http.Agent {
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

  /**
   * docker-modem formats every request's options with util.inspect (showHidden, no depth limit), even with its debug
   * output off, and the agent is among them: one word here, not the whole SSH connection behind it, which cost
   * about 0.3 s of CPU per host and deploy.
   */
  [inspect.custom](): string {
    return 'DockerAgent';
  }
}

/**
 * A Duplex over one SSH channel, shaped enough like a net.Socket for Node's http client.
 * Writes wait until the channel is attached. For a `command` channel, closing before any byte
 * arrived means the command failed (e.g. no `docker` on the host): the socket then fails with the
 * exit status and stderr instead of letting http report "socket hang up".
 */
export class ChannelSocket extends Duplex {
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
