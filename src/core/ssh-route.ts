/**
 * How a host of the pipeline config is reached: the host spec, the `ssh` settings and the SSH config file,
 * weighed as OpenSSH weighs its command line and its file. For a host the config names, the spec
 * (`user@host:port`) and the settings are the command line: they win, then the first value the file gives,
 * then the defaults. Jump hosts (ProxyJump) are reached as `ssh -J` reaches them: from the ProxyJump spec,
 * then the file, with the settings only as defaults. Pure: the caller reads the file.
 */
import { ConfigError } from '../errors.js';
import { parseHost, type SshSettings } from './hosts.js';
import { knownHostsName } from './known-hosts.js';
import { expandHostName, lookupHost, type SshConfigFile, type SshHostConfig } from './ssh-config.js';

export const DEFAULT_SSH_USER = 'deploy';
const DEFAULT_PORT = 22;

export interface IdentitySource {
  path: string;
  /** Named by the settings: it must be usable. One the SSH config names may be missing, as with ssh. */
  required: boolean;
}

/** One SSH connection of a route. */
export interface SshHop {
  /** The host as the pipeline config or a ProxyJump names it (a Host alias, or the host itself). */
  name: string;
  /** What is connected to: the HostName the file gives, else the name. */
  host: string;
  port: number;
  user: string;
  identityFiles: IdentitySource[];
  /** known_hosts files, read together; the host key is looked up under `host` and `port`. */
  knownHosts: string[];
  /** The SSH config file that gave this hop a HostName, or that was read and gave none (for messages). */
  sshConfig?: { path: string; gaveHostName: boolean };
}

/** The host to connect to and the jump hosts before it, in the order they are connected to. */
export interface SshRoute {
  target: SshHop;
  jumps: SshHop[];
}

export interface RouteContext {
  home: string;
  localUser: string;
}

/** A host as a spec names it: user and port only when written. */
export interface HostSpec {
  host: string;
  user?: string;
  port?: number;
}

/** The route to `address`, a host of the pipeline config (user and port as its spec writes them, or as the settings give them). */
export function resolveRoute(address: HostSpec, settings: SshSettings, file: SshConfigFile | undefined, context: RouteContext): SshRoute {
  return route({ spec: address, settings, file, context }, 'target', undefined, []);
}

interface Resolution {
  spec: HostSpec;
  settings: SshSettings;
  file: SshConfigFile | undefined;
  context: RouteContext;
}

/**
 * `jumpsGiven` are the hops a ProxyJump list put before this one (`-J a` for b in `ProxyJump a,b`): they replace the
 * host's own ProxyJump. `seen` are the hosts this route is reaching already, to refuse a loop.
 */
function route(resolution: Resolution, role: 'target' | 'jump', jumpsGiven: HostSpec[] | undefined, seen: string[]): SshRoute {
  const { spec, file } = resolution;
  const chain = [...seen, spec.host];
  if (seen.includes(spec.host)) throw new ConfigError(`SSH config ${file?.path}: ProxyJump loop: ${chain.join(' → ')}`);
  // The user known before the file is read: for a target, the spec's or the settings'.
  const user = role === 'target' ? (spec.user ?? resolution.settings.user) : spec.user;
  const lookup = {
    name: spec.host,
    user,
    defaultUser: resolution.settings.user ?? DEFAULT_SSH_USER,
    localUser: resolution.context.localUser,
  };
  const found = file ? lookupHost(file, lookup) : { identityFiles: [] };
  const hop = makeHop(resolution, role, found);
  const jumps = jumpsGiven ?? proxyJumps(found, hop, file);
  if (jumps.length === 0) return { target: hop, jumps: [] };
  const last = jumps.at(-1)!;
  const before = jumps.slice(0, -1);
  const through = route({ ...resolution, spec: last }, 'jump', before.length > 0 ? before : undefined, chain);
  return { target: hop, jumps: [...through.jumps, through.target] };
}

function makeHop(resolution: Resolution, role: 'target' | 'jump', found: SshHostConfig): SshHop {
  const { spec, settings, file, context } = resolution;
  const name = spec.host;
  const host = found.hostName === undefined ? name : expandHostName(found.hostName, name);
  const fileUser = found.user;
  const user =
    role === 'target'
      ? (spec.user ?? settings.user ?? fileUser ?? DEFAULT_SSH_USER)
      : (spec.user ?? fileUser ?? settings.user ?? DEFAULT_SSH_USER);
  const port = (role === 'target' ? (spec.port ?? settings.port) : spec.port) ?? filePort(found, name, file) ?? DEFAULT_PORT;
  const tokens = { home: context.home, localUser: context.localUser, host, name, port, user };
  const fromFile = found.identityFiles
    .filter((path) => path.toLowerCase() !== 'none')
    .map((path) => ({ path: expandPath(path, tokens, 'IdentityFile', file), required: false }));
  const fromSettings = settings.identityFile === undefined ? [] : [{ path: settings.identityFile, required: true }];
  const knownHosts =
    settings.knownHosts !== undefined
      ? [settings.knownHosts]
      : (found.userKnownHostsFiles
          ?.filter((path) => path.toLowerCase() !== 'none')
          .map((path) => expandPath(path, tokens, 'UserKnownHostsFile', file)) ?? [`${context.home}/.ssh/known_hosts`]);
  return {
    name,
    host,
    port,
    user,
    // The command line's -i comes before the file's IdentityFile lines; for a jump host the settings are the fallback.
    identityFiles: role === 'target' ? [...fromSettings, ...fromFile] : [...fromFile, ...fromSettings],
    knownHosts,
    ...(file ? { sshConfig: { path: file.path, gaveHostName: found.hostName !== undefined } } : {}),
  };
}

function filePort(found: SshHostConfig, name: string, file: SshConfigFile | undefined): number | undefined {
  if (found.port === undefined) return undefined;
  const port = Number(found.port);
  if (!/^\d+$/.test(found.port) || port < 1 || port > 65535)
    throw new ConfigError(`SSH config ${file?.path}: Port "${found.port}" for ${name} must be a number from 1 to 65535`);
  return port;
}

/** The hosts a ProxyJump value names, first hop first; `none` (or a ProxyCommand of none) is a direct connection. */
function proxyJumps(found: SshHostConfig, hop: SshHop, file: SshConfigFile | undefined): HostSpec[] {
  const { proxy } = found;
  if (proxy === undefined || proxy.value.toLowerCase() === 'none') return [];
  if (proxy.keyword === 'proxycommand') {
    throw new ConfigError(`SSH config ${file?.path}: ${hop.name} has a ProxyCommand, which the pipeline cannot run; use ProxyJump`);
  }
  return proxy.value.split(',').map((jump) => parseJump(jump.trim(), hop.name, file));
}

/** `[user@]host[:port]` or `ssh://[user@]host[:port]`. */
function parseJump(jump: string, name: string, file: SshConfigFile | undefined): HostSpec {
  try {
    const address = parseHost(jump.replace(/^ssh:\/\//, ''), {});
    if (address.kind === 'local') return { host: address.id };
    return {
      host: address.host,
      ...(address.user !== undefined ? { user: address.user } : {}),
      ...(address.port !== undefined ? { port: address.port } : {}),
    };
  } catch (error) {
    throw new ConfigError(`SSH config ${file?.path}: ProxyJump of ${name}: ${(error as Error).message}`);
  }
}

interface PathTokens {
  home: string;
  localUser: string;
  host: string;
  name: string;
  port: number;
  user: string;
}

/** `~` and the tokens ssh_config(5) gives IdentityFile and UserKnownHostsFile that need nothing but the route. */
export function expandPath(path: string, tokens: PathTokens, keyword: string, file?: SshConfigFile): string {
  const expanded = path.replace(/%(.)/g, (token, letter: string) => {
    switch (letter) {
      case '%':
        return '%';
      case 'd':
        return tokens.home;
      case 'h':
        return tokens.host;
      case 'k':
        return knownHostsName(tokens.host, tokens.port);
      case 'n':
        return tokens.name;
      case 'p':
        return String(tokens.port);
      case 'r':
        return tokens.user;
      case 'u':
        return tokens.localUser;
      default:
        throw new ConfigError(`SSH config ${file?.path}: ${keyword} ${path}: the token ${token} is not supported`);
    }
  });
  return expanded === '~' ? tokens.home : expanded.startsWith('~/') ? `${tokens.home}${expanded.slice(1)}` : expanded;
}

/** How messages name a hop: `bastion (deploy@10.0.0.5)`, or `deploy@bastion:2222` when it has no alias. */
export function describeHop(hop: SshHop): string {
  const host = hop.host.includes(':') ? `[${hop.host}]` : hop.host;
  const address = `${hop.user}@${host}${hop.port === DEFAULT_PORT ? '' : `:${hop.port}`}`;
  return hop.name === hop.host ? address : `${hop.name} (${address})`;
}
