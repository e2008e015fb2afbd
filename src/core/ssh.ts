/**
 * The pure parts of reaching a host over SSH: which host key algorithms to ask for, what a failed
 * connection, key or host key check means for the user, and a remote command's exit status.
 */
import { constants as osConstants } from 'node:os';
import type { HostKeyVerdict } from './known-hosts.js';

/** ssh2's host key algorithms, in its own order of preference. */
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
] as const;

export type HostKeyAlgorithm = (typeof HOST_KEY_ALGORITHMS)[number];

/**
 * Prefer the host key algorithms known_hosts already has for this host (as OpenSSH does), so a
 * host with several keys is not reported as changed just because it offered another type first.
 * `types` are the key types known_hosts has for the host; undefined keeps ssh2's default order.
 */
export function hostKeyAlgorithms(types: string[]): HostKeyAlgorithm[] | undefined {
  const known = new Set(types);
  const isKnown = (algorithm: string): boolean => known.has(algorithm.startsWith('rsa-sha2-') ? 'ssh-rsa' : algorithm);
  if (!HOST_KEY_ALGORITHMS.some(isKnown)) return undefined;
  // Stable partition: known types first, each group in ssh2's own order of preference.
  return [...HOST_KEY_ALGORITHMS.filter(isKnown), ...HOST_KEY_ALGORITHMS.filter((a) => !isKnown(a))];
}

/** Why a host key was refused, and for an unknown host how to add it (to the first of several known_hosts files). */
export function describeHostKeyProblem(
  host: string,
  port: number,
  knownHosts: string | readonly string[],
  verdict: Exclude<HostKeyVerdict, 'match'>,
): string {
  const files = typeof knownHosts === 'string' ? [knownHosts] : knownHosts;
  if (verdict === 'unknown') {
    const scan = port === 22 ? `ssh-keyscan ${host}` : `ssh-keyscan -p ${port} ${host}`;
    return `host key not in ${files.join(' or ')}; after checking the host's key fingerprint, add it with: ${scan} >> ${files[0]}`;
  }
  const what = verdict === 'revoked' ? 'is marked @revoked in' : 'does not match';
  return `host key ${what} ${files.join(', ')} (possible man-in-the-middle attack); refusing to connect`;
}

/** Why the private key in `file` cannot be used, from ssh2's parse error. */
export function describeKeyProblem(file: string, error: Error, hadPassphrase: boolean): string {
  if (/no passphrase given/i.test(error.message)) return `SSH private key ${file} is encrypted and no passphrase was given`;
  if (hadPassphrase && /passphrase/i.test(error.message)) return `cannot decrypt SSH private key ${file}: wrong passphrase`;
  return `SSH private key ${file} cannot be used: ${error.message}`;
}

/** An error from ssh2 or the OS while connecting: ssh2 sets `level`, the OS sets `code`. */
export type ConnectError = Error & { level?: string; code?: unknown };

/**
 * A short, actionable reason for a failed connection attempt; `credential` names what was offered,
 * e.g. "key /home/me/.ssh/id_ed25519". No secrets: messages come from ssh2 and the OS.
 */
export function describeConnectError(
  target: { user: string; port: number; host?: string },
  timeoutMs: number,
  credential: string,
  error: ConnectError,
  named?: HostNaming,
): string {
  if (error.level === 'client-authentication') return `authentication failed for user ${target.user} (${credential})`;
  if (error.level === 'client-timeout') return `timed out after ${inSeconds(timeoutMs)}s connecting on port ${target.port}`;
  switch (error.code) {
    case 'ECONNREFUSED':
      return `connection refused on port ${target.port}`;
    case 'ENOTFOUND':
      return named ? unresolvedName(target.host ?? named.name, named) : 'cannot resolve host name';
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

/** How the pipeline config named a host that was looked up in an SSH config file. */
export interface HostNaming {
  name: string;
  sshConfig: string;
  /** Whether a Host block of the file gave the name a HostName. */
  gaveHostName: boolean;
}

/** A name neither the SSH config nor DNS knows, or a HostName DNS does not know. */
function unresolvedName(host: string, named: HostNaming): string {
  if (named.gaveHostName) return `cannot resolve host name ${host} (the HostName of ${named.name} in ${named.sshConfig})`;
  return `cannot resolve host name ${named.name}: no Host in ${named.sshConfig} gives it a HostName, and DNS does not know it`;
}

/** A remote command's exit status; one killed by a signal reports 128 + signal number, as shells do. */
export function exitStatus(code: number | null | undefined, signal: string | undefined): number | undefined {
  if (typeof code === 'number') return code;
  if (!signal) return undefined;
  const signals = osConstants.signals as Record<string, number>;
  return 128 + (signals[signal.startsWith('SIG') ? signal : `SIG${signal}`] ?? 0);
}

/** 15000 → "15", 1500 → "1.5": durations in messages are in seconds. */
export function inSeconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
