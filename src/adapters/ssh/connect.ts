/**
 * Connecting to a host over SSH: known_hosts and credentials are read first, so a bad file or key
 * is reported by name; the handshake then checks the host key and explains a failed attempt.
 */
import { readFile } from 'node:fs/promises';
import ssh2 from 'ssh2';
import type { Client as SshClient, ConnectConfig } from 'ssh2';
import { checkHostKey, knownHostKeyTypes, parseKnownHosts, type HostKeyVerdict, type KnownHostEntry } from '../../core/known-hosts.js';
import {
  describeConnectError, describeHostKeyProblem, describeKeyProblem, hostKeyAlgorithms, type ConnectError,
} from '../../core/ssh.js';
import { ConfigError, HostError } from '../../errors.js';
import { SshConnection, type SshHostConnection, type SshTarget } from './connection.js';

const { Client, utils: sshUtils } = ssh2;

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

const DEFAULT_READY_TIMEOUT_MS = 15_000;
const DEFAULT_KEEPALIVE_INTERVAL_MS = 10_000;
/** Missed keepalive replies before the connection counts as lost. */
const KEEPALIVE_COUNT_MAX = 3;

/** Open one SSH connection to `target`, checking its host key against `options.knownHosts`. */
export async function connectHost(target: SshTarget, options: SshOptions): Promise<SshHostConnection> {
  const knownHosts = await readKnownHosts(options.knownHosts);
  const auth = await resolveAuth(options);
  const client = new Client();
  // Made first, so that it hears every event of the client from the start.
  const connection = new SshConnection(target, client);
  await handshake(client, target, options, knownHosts, auth);
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

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

// ---------------------------------------------------------------------------------------------
// The handshake

/** Connect `client`; resolves once the SSH session is ready, rejects with a HostError saying why not. */
function handshake(client: SshClient, target: SshTarget, options: SshOptions, knownHosts: KnownHostEntry[], auth: Auth): Promise<void> {
  const { host, port } = target;
  const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  // ssh2 only reports "Host denied (verification failed)": keep our verdict for a precise message.
  let verdict: HostKeyVerdict | undefined;
  let lastError: ConnectError | undefined;

  return new Promise((resolve, reject) => {
    const fail = (): void => {
      cleanup();
      client.destroy();
      if (verdict !== undefined && verdict !== 'match') reject(new HostError(host, describeHostKeyProblem(host, port, options.knownHosts, verdict)));
      else if (lastError) reject(new HostError(host, describeConnectError(target, timeoutMs, auth.description, lastError), { cause: lastError }));
      else reject(new HostError(host, `connection closed before the SSH session was ready (port ${port})`));
    };
    const failWith = (error: Error): void => {
      lastError = error;
      fail();
    };
    const succeed = (): void => {
      cleanup();
      // Remote commands are small request/answer exchanges: with Nagle's algorithm each waits for a delayed ACK.
      client.setNoDelay(true);
      resolve();
    };
    const cleanup = (): void => {
      client.removeListener('ready', succeed);
      client.removeListener('error', failWith);
      client.removeListener('close', fail);
    };
    client.once('ready', succeed).on('error', failWith).on('close', fail);

    const config = connectConfig(target, options, auth, knownHosts, timeoutMs, (key) => {
      verdict = checkHostKey(knownHosts, host, port, key);
      return verdict === 'match';
    });
    try {
      client.connect(config);
    } catch (error) {
      failWith(error as Error);
    }
  });
}

function connectConfig(
  target: SshTarget,
  options: SshOptions,
  auth: Auth,
  knownHosts: KnownHostEntry[],
  timeoutMs: number,
  hostVerifier: (key: Buffer) => boolean,
): ConnectConfig {
  const { host, port, user } = target;
  const config: ConnectConfig = {
    host,
    port,
    username: user,
    ...auth.config,
    readyTimeout: timeoutMs,
    keepaliveInterval: options.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
    keepaliveCountMax: KEEPALIVE_COUNT_MAX,
    hostVerifier,
  };
  const algorithms = hostKeyAlgorithms(knownHostKeyTypes(knownHosts, host, port));
  if (algorithms) config.algorithms = { serverHostKey: algorithms };
  return config;
}
