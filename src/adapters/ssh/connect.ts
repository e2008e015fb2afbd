/**
 * Connecting to a host over SSH: known_hosts and credentials are read first, so a bad file or key
 * is reported by name; the handshake then checks the host key and explains a failed attempt.
 */
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import type { ConnectConfig, Client as SshClient } from 'ssh2';
import ssh2 from 'ssh2';
import { checkHostKey, type HostKeyVerdict, type KnownHostEntry, knownHostKeyTypes, parseKnownHosts } from '../../core/known-hosts.js';
import {
  type ConnectError,
  describeConnectError,
  describeHostKeyProblem,
  describeKeyProblem,
  type HostNaming,
  hostKeyAlgorithms,
} from '../../core/ssh.js';
import type { IdentitySource } from '../../core/ssh-route.js';
import { ConfigError, HostError } from '../../errors.js';
import { SshConnection, type SshHostConnection, type SshTarget } from './connection.js';

const { Client, utils: sshUtils } = ssh2;

export interface SshOptions {
  /** Path to a private key; '~' already expanded by the caller. */
  identityFile?: string;
  /** Private keys tried in order (instead of identityFile); one the SSH config named may be missing. */
  identityFiles?: IdentitySource[];
  /** For an encrypted key. */
  passphrase?: string;
  /** SSH agent socket; default process.env.SSH_AUTH_SOCK when no identityFile. */
  agent?: string;
  /** Path(s) to known_hosts, read together; required. */
  knownHosts: string | string[];
  /** Default 15000. */
  readyTimeoutMs?: number;
  /** Default 10000. */
  keepaliveIntervalMs?: number;
  /** A stream to the host's sshd already open (a channel of a jump host's connection), instead of TCP. */
  sock?: Duplex;
  /** How the config named the host, when an SSH config file was read: for a name that resolves nowhere. */
  named?: HostNaming;
}

const DEFAULT_READY_TIMEOUT_MS = 15_000;
const DEFAULT_KEEPALIVE_INTERVAL_MS = 10_000;
/** Missed keepalive replies before the connection counts as lost. */
const KEEPALIVE_COUNT_MAX = 3;

/** Open one SSH connection to `target`, checking its host key against `options.knownHosts`. */
export async function connectHost(target: SshTarget, options: SshOptions): Promise<SshHostConnection> {
  const knownHosts = await readKnownHosts(knownHostsFiles(options));
  const auth = await resolveAuth(options, target.user);
  const client = new Client();
  // Made first, so that it hears every event of the client from the start.
  const connection = new SshConnection(target, client);
  await handshake(client, target, options, knownHosts, auth);
  return connection;
}

// ---------------------------------------------------------------------------------------------
// Preparing to connect: known_hosts and credentials

function knownHostsFiles(options: SshOptions): string[] {
  return typeof options.knownHosts === 'string' ? [options.knownHosts] : options.knownHosts;
}

async function readKnownHosts(paths: readonly string[]): Promise<KnownHostEntry[]> {
  return (await Promise.all(paths.map(readKnownHostsFile))).flat();
}

async function readKnownHostsFile(path: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await readFile(path, 'utf8'));
  } catch (error) {
    // Like OpenSSH, a missing file only means no host is known yet; the verdict says how to fix it.
    if (errorCode(error) === 'ENOENT') return [];
    throw new ConfigError(`cannot read known_hosts file ${path}: ${errorCode(error) ?? String(error)}`, { cause: error });
  }
}

interface Auth {
  config: Pick<ConnectConfig, 'authHandler'>;
  /** Names the credential in error messages, e.g. "key /home/me/.ssh/id_ed25519". */
  description: string;
}

/**
 * The keys to offer, in order. Keys the settings name come first, then the agent only when one was given (as before
 * SSH config files); with keys only the SSH config names, the agent (SSH_AUTH_SOCK) comes first, as ssh offers it.
 */
async function resolveAuth(options: SshOptions, user: string): Promise<Auth> {
  const sources = options.identityFiles ?? (options.identityFile === undefined ? [] : [{ path: options.identityFile, required: true }]);
  const explicit = sources.some((source) => source.required);
  const agent = options.agent ?? (explicit ? undefined : process.env.SSH_AUTH_SOCK || undefined);
  const keys: Array<{ path: string; key: Buffer }> = [];
  for (const source of sources) {
    const key = await loadIdentity(source, options.passphrase, agent !== undefined);
    if (key) keys.push({ path: source.path, key });
  }
  if (keys.length === 0 && agent === undefined) {
    const skipped = sources.length > 0 ? ` (none of ${sources.map((source) => source.path).join(', ')} exists)` : '';
    throw new ConfigError(`no SSH identity file given${skipped} and no SSH agent running (SSH_AUTH_SOCK is not set)`);
  }
  const passphrase = options.passphrase === undefined ? {} : { passphrase: options.passphrase };
  const byKey = keys.map(({ key }) => ({ type: 'publickey' as const, username: user, key, ...passphrase }));
  const byAgent = agent === undefined ? [] : [{ type: 'agent' as const, username: user, agent }];
  const keyNames = keys.length === 0 ? [] : [`${keys.length > 1 ? 'keys' : 'key'} ${keys.map((key) => key.path).join(', ')}`];
  const agentNames = agent === undefined ? [] : [`ssh agent ${agent}`];
  const description = (explicit ? [...keyNames, ...agentNames] : [...agentNames, ...keyNames]).join(' and ');
  return { config: { authHandler: explicit ? [...byKey, ...byAgent] : [...byAgent, ...byKey] }, description };
}

/** A key the SSH config names that does not exist is skipped, and so is an encrypted one without passphrase when an agent may hold it. */
async function loadIdentity(source: IdentitySource, passphrase: string | undefined, agent: boolean): Promise<Buffer | undefined> {
  try {
    return await loadPrivateKey(source.path, passphrase);
  } catch (error) {
    if (source.required) throw error;
    if (errorCode((error as Error).cause) === 'ENOENT') return undefined;
    if (agent && passphrase === undefined && /is encrypted/.test((error as Error).message)) return undefined;
    throw error;
  }
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
      if (verdict !== undefined && verdict !== 'match')
        reject(new HostError(host, describeHostKeyProblem(host, port, knownHostsFiles(options), verdict)));
      else if (lastError)
        reject(
          new HostError(host, describeConnectError(target, timeoutMs, auth.description, lastError, options.named), { cause: lastError }),
        );
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
    ...(options.sock ? { sock: options.sock as ConnectConfig['sock'] } : {}),
  };
  const algorithms = hostKeyAlgorithms(knownHostKeyTypes(knownHosts, host, port));
  if (algorithms) config.algorithms = { serverHostKey: algorithms };
  return config;
}
