/**
 * The connection types the deploy speaks to a host through, whatever reaches it: one SSH
 * connection (adapters/ssh), or the runner's own engine and programs (adapters/local).
 */
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  stdin?: string | Buffer;
  timeoutMs?: number;
}

/** Runs a program on a host with its arguments passed safely, in the deploy user's home. */
export type HostExec = (argv: string[], options?: ExecOptions) => Promise<ExecResult>;

/** Opens a TCP connection as seen from the host (over SSH for remote hosts). */
export type OpenTcp = (host: string, port: number) => Promise<Duplex>;

/** A live connection to one host: its Docker engine, its programs, TCP as the host sees it. */
export interface HostConnection {
  /** Every API call goes over this connection. */
  readonly docker: Docker;
  /** Runs a program on the host with arguments passed safely (each one quoted: a remote sshd always runs a shell). */
  exec: HostExec;
  /** A TCP connection to host:port as the host sees it, e.g. ('127.0.0.1', 8080). */
  openTcp: OpenTcp;
  close(): Promise<void>;
}
