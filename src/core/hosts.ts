import { ConfigError } from '../errors.js';

/** The runner's own Docker engine, reached without SSH. */
export const LOCAL_HOST = 'local';

export type HostAddress =
  | { kind: 'local'; id: typeof LOCAL_HOST }
  /** `user` and `port` only when the spec or the defaults give them: else the SSH config or ssh's defaults decide. */
  | { kind: 'ssh'; id: string; host: string; user?: string; port?: number };

export interface HostDefaults {
  user?: string;
  port?: number;
}

/** The `ssh` settings of one environment, the top-level ones under its own; paths as written. */
export interface SshSettings extends HostDefaults {
  identityFile?: string;
  knownHosts?: string;
  /** The SSH config file; false: none. */
  config?: string | false;
}

/** An environment's own `ssh` settings over the top-level ones, key by key. */
export function environmentSsh<T extends SshSettings>(top: T, own: SshSettings | undefined): T {
  const merged = { ...top };
  for (const [key, value] of Object.entries(own ?? {})) if (value !== undefined) Object.assign(merged, { [key]: value });
  return merged;
}

const HOST_RE = /^(?:(?<user>[^@\s:]+)@)?(?:\[(?<v6>[0-9A-Fa-f:.]+)\]|(?<name>[^@\s:[\]]+))(?::(?<port>[^:]*))?$/;

/** Parse `host`, `user@host`, `host:port` or `user@host:port` (`[v6]:port` too); `local` is the runner's engine. */
export function parseHost(spec: string, defaults: HostDefaults): HostAddress {
  if (spec === LOCAL_HOST) return { kind: 'local', id: LOCAL_HOST };
  const match = HOST_RE.exec(spec);
  if (!match?.groups) throw new ConfigError(`invalid host "${spec}": expected host, user@host, host:port or user@host:port`);
  const { user = defaults.user, v6, name, port: portText } = match.groups;
  let port: number | undefined = defaults.port;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535)
      throw new ConfigError(`invalid host "${spec}": port must be a number from 1 to 65535`);
  }
  const host = (v6 ?? name)!;
  return {
    kind: 'ssh',
    id: formatHost(user, host, port),
    host,
    ...(user !== undefined ? { user } : {}),
    ...(port !== undefined ? { port } : {}),
  };
}

/** How the host is named in output: as written, with the defaults filled in (port 22 left out). */
function formatHost(user: string | undefined, host: string, port: number | undefined): string {
  const bracketed = host.includes(':') ? `[${host}]` : host;
  return `${user === undefined ? '' : `${user}@`}${bracketed}${port === undefined || port === 22 ? '' : `:${port}`}`;
}
