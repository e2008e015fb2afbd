import { ConfigError } from '../errors.js';

/** The runner's own Docker engine, reached without SSH. */
export const LOCAL_HOST = 'local';

export type HostAddress =
  | { kind: 'local'; id: typeof LOCAL_HOST }
  | { kind: 'ssh'; id: string; host: string; user: string; port: number };

export interface HostDefaults { user: string; port: number }

const HOST_RE = /^(?:(?<user>[^@\s:]+)@)?(?:\[(?<v6>[0-9A-Fa-f:.]+)\]|(?<name>[^@\s:[\]]+))(?::(?<port>[^:]*))?$/;

/** Parse `host`, `user@host`, `host:port` or `user@host:port` (`[v6]:port` too); `local` is the runner's engine. */
export function parseHost(spec: string, defaults: HostDefaults): HostAddress {
  if (spec === LOCAL_HOST) return { kind: 'local', id: LOCAL_HOST };
  const match = HOST_RE.exec(spec);
  if (!match?.groups) throw new ConfigError(`invalid host "${spec}": expected host, user@host, host:port or user@host:port`);
  const { user = defaults.user, v6, name, port: portText } = match.groups;
  let port = defaults.port;
  if (portText !== undefined) {
    port = Number(portText);
    if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw new ConfigError(`invalid host "${spec}": port must be a number from 1 to 65535`);
  }
  const host = (v6 ?? name)!;
  return { kind: 'ssh', id: formatHost(user, host, port), host, user, port };
}

function formatHost(user: string, host: string, port: number): string {
  const bracketed = host.includes(':') ? `[${host}]` : host;
  return port === 22 ? `${user}@${bracketed}` : `${user}@${bracketed}:${port}`;
}
