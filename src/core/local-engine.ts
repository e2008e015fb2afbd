/**
 * Which Docker engine the runner's own `docker` CLI would talk to, worked out the way it does:
 * DOCKER_HOST, else the context DOCKER_CONTEXT names, else the currentContext of config.json
 * (in DOCKER_CONFIG, else ~/.docker), else the default socket. The context called "default" is
 * DOCKER_HOST or the default socket. Files are read through `read`, which the caller provides.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DEFAULT_DOCKER_SOCKET } from './docker-endpoint.js';

export interface LocalEngineInput {
  env: Readonly<Record<string, string | undefined>>;
  /** The user's home folder (for ~/.docker and for showing paths under it with ~). */
  home: string;
  platform?: string;
  /** A file's text, undefined when it does not exist. */
  read: (path: string) => string | undefined;
}

/** TLS material of a tcp engine (PEM text); `verify: false` accepts any server certificate. */
export interface EngineTls {
  ca?: string;
  cert?: string;
  key?: string;
  verify: boolean;
}

/**
 * `address`: the endpoint as the docker CLI writes it; `from`: where it came from, written to follow
 * the address in a message ("from DOCKER_HOST", "from context colima in ~/.docker/config.json").
 */
export type LocalEngine =
  | { kind: 'socket'; path: string; address: string; from: string }
  | { kind: 'tcp'; host: string; port: number; tls?: EngineTls; address: string; from: string }
  | { kind: 'unusable'; message: string };

const TLS_FILES = ['ca', 'cert', 'key'] as const;

/** The folder of a context's files under contexts/meta and contexts/tls: the SHA-256 of its name, as the CLI names it. */
export function contextFolder(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

export function localEngine(input: LocalEngineInput): LocalEngine {
  const { env } = input;
  const config = configFolder(input);
  const dockerHost = env.DOCKER_HOST ?? '';
  if (dockerHost !== '') return engineAt(dockerHost, 'from DOCKER_HOST', () => hostTls(input, config.path));
  const dockerContext = env.DOCKER_CONTEXT ?? '';
  if (dockerContext !== '') return contextEngine(input, config, dockerContext, `context ${dockerContext} in DOCKER_CONTEXT`);
  const text = input.read(join(config.path, 'config.json'));
  const configFile = `${config.shown}/config.json`;
  if (text !== undefined) {
    let currentContext: unknown;
    try {
      currentContext = (JSON.parse(text) as { currentContext?: unknown } | null)?.currentContext;
    } catch (error) {
      return { kind: 'unusable', message: `${configFile} is not valid JSON (${(error as Error).message}): fix it, or set DOCKER_HOST` };
    }
    if (currentContext !== undefined && typeof currentContext !== 'string') {
      return { kind: 'unusable', message: `currentContext in ${configFile} is not a string: fix it, or set DOCKER_HOST` };
    }
    if (currentContext) return contextEngine(input, config, currentContext, `context ${currentContext} in ${configFile}`);
  }
  return defaultEngine(input);
}

interface ConfigFolder {
  path: string;
  shown: string;
}

/** DOCKER_CONFIG, else ~/.docker; `shown` writes a folder under the home folder with ~. */
function configFolder({ env, home }: LocalEngineInput): ConfigFolder {
  const path = env.DOCKER_CONFIG || join(home, '.docker');
  const shown = path === home || path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
  return { path, shown };
}

function defaultEngine({ platform }: LocalEngineInput): LocalEngine {
  return platform === 'win32'
    ? { kind: 'socket', path: '//./pipe/docker_engine', address: 'npipe:////./pipe/docker_engine', from: 'the default named pipe' }
    : { kind: 'socket', path: DEFAULT_DOCKER_SOCKET, address: `unix://${DEFAULT_DOCKER_SOCKET}`, from: 'the default socket' };
}

/** A context's docker endpoint from its meta.json, with its TLS material (contexts/tls/<folder>/docker/*.pem). */
function contextEngine(input: LocalEngineInput, config: ConfigFolder, name: string, source: string): LocalEngine {
  if (name === 'default') return defaultEngine(input);
  const folder = contextFolder(name);
  const metaFile = `${config.shown}/contexts/meta/${folder}/meta.json`;
  const text = input.read(join(config.path, 'contexts/meta', folder, 'meta.json'));
  if (text === undefined)
    return {
      kind: 'unusable',
      message: `${source} does not exist (no ${metaFile}): create it with docker context create, or choose another with docker context use`,
    };
  let endpoint: { Host?: unknown; SkipTLSVerify?: unknown } | undefined;
  try {
    endpoint = (JSON.parse(text) as { Endpoints?: { docker?: typeof endpoint } } | null)?.Endpoints?.docker;
  } catch (error) {
    return { kind: 'unusable', message: `${metaFile} of ${source} is not valid JSON (${(error as Error).message})` };
  }
  if (typeof endpoint?.Host !== 'string' || endpoint.Host === '')
    return { kind: 'unusable', message: `${source} has no Docker endpoint (Endpoints.docker.Host in ${metaFile})` };
  const skipVerify = endpoint.SkipTLSVerify === true;
  return engineAt(endpoint.Host, `from ${source}`, () => {
    const tls = readTls(input, join(config.path, 'contexts/tls', folder, 'docker'));
    return tls || skipVerify ? { ...tls, verify: !skipVerify } : undefined;
  });
}

/** DOCKER_HOST's TLS, as the CLI sets it up: on with DOCKER_TLS_VERIFY or DOCKER_TLS, certificates in DOCKER_CERT_PATH (else the config folder). */
function hostTls(input: LocalEngineInput, configPath: string): EngineTls | undefined {
  const { env } = input;
  const verify = (env.DOCKER_TLS_VERIFY ?? '') !== '';
  if (!verify && (env.DOCKER_TLS ?? '') === '') return undefined;
  return { ...readTls(input, env.DOCKER_CERT_PATH || configPath), verify };
}

/** The ca.pem, cert.pem and key.pem present in a folder; undefined when none is. */
function readTls(input: LocalEngineInput, folder: string): Omit<EngineTls, 'verify'> | undefined {
  const tls: Omit<EngineTls, 'verify'> = {};
  for (const file of TLS_FILES) {
    const text = input.read(join(folder, `${file}.pem`));
    if (text !== undefined) tls[file] = text;
  }
  return Object.keys(tls).length > 0 ? tls : undefined;
}

/**
 * An endpoint address (unix://, npipe://, tcp:// or host:port, whose port is 2375 when left out, as for the CLI) as an
 * engine; `tlsFor` is asked only for tcp. Any other kind (ssh://) cannot be used.
 */
export function engineAt(address: string, from: string, tlsFor: () => EngineTls | undefined): LocalEngine {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(address)?.[1]?.toLowerCase();
  if (scheme === 'unix') return { kind: 'socket', path: address.slice('unix://'.length) || DEFAULT_DOCKER_SOCKET, address, from };
  if (scheme === 'npipe') return { kind: 'socket', path: address.slice('npipe://'.length) || '//./pipe/docker_engine', address, from };
  if (scheme !== undefined && scheme !== 'tcp') {
    const forward =
      scheme === 'ssh'
        ? ' (forward it to a local socket: ssh -NL /tmp/docker.sock:/var/run/docker.sock HOST, then DOCKER_HOST=unix:///tmp/docker.sock)'
        : '';
    return {
      kind: 'unusable',
      message: `cannot use the Docker engine at ${address}, ${from}: pipeline reaches its own engine over unix:// or tcp:// only${forward}`,
    };
  }
  const match = /^(?:tcp:\/\/)?(\[[0-9a-f:.]+\]|[^:/?#[\]@]+)(?::(\d{1,5}))?\/?$/i.exec(address);
  const port = match?.[2] === undefined ? undefined : Number(match[2]);
  if (!match || (port !== undefined && (port < 1 || port > 65535))) {
    return { kind: 'unusable', message: `cannot use the Docker engine at ${address}, ${from}: not an address like tcp://HOST:PORT` };
  }
  const tls = tlsFor();
  return { kind: 'tcp', host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port: port ?? 2375, ...(tls ? { tls } : {}), address, from };
}
