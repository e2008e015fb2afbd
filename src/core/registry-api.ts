/**
 * What the runner needs of the registry's HTTP API (distribution v2) to upload an image by digest and tag it later:
 * how to reach and authenticate to the registry, and which requests of an engine's push to pass on or to change.
 */
import { createHash } from 'node:crypto';

/** A `WWW-Authenticate` challenge: `Basic realm=…` or `Bearer realm=…,service=…,scope=…`. */
export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

export function parseChallenge(header: string | undefined): Challenge | undefined {
  const match = /^\s*(basic|bearer)\b\s*(.*)$/i.exec(header ?? '');
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const [, key, quoted, bare] of match[2]!.matchAll(/([a-zA-Z_]+)=(?:"([^"]*)"|([^,\s]*))/g))
    params[key!.toLowerCase()] = quoted ?? bare ?? '';
  return { scheme: match[1]!.toLowerCase() as Challenge['scheme'], params };
}

/** Where a bearer token for `scope` is asked for; undefined when the challenge names no realm. */
export function tokenUrl(challenge: Challenge, scope: string): string | undefined {
  const { realm, service } = challenge.params;
  if (!realm) return undefined;
  const url = new URL(realm);
  if (service) url.searchParams.set('service', service);
  url.searchParams.set('scope', scope);
  return url.toString();
}

/** The scope a push of a repository needs. */
export function pushScope(path: string): string {
  return `repository:${path}:pull,push`;
}

/** The engine's registry settings, as `GET /info` gives them (`RegistryConfig`). */
export interface EngineRegistryConfig {
  IndexConfigs?: Record<string, { Secure?: boolean }>;
  InsecureRegistryCIDRs?: string[];
}

/** How the engine reaches a registry: over plain HTTP when it is one of the engine's insecure registries, else HTTPS. */
export function registryScheme(config: EngineRegistryConfig | undefined, server: string): 'http' | 'https' {
  if (config?.IndexConfigs?.[server]?.Secure === false) return 'http';
  const host = server.replace(/:\d+$/, '');
  const insecure = (config?.InsecureRegistryCIDRs ?? []).some((cidr) => inCidr(host, cidr));
  return insecure ? 'http' : 'https';
}

/** Whether an IPv4 address is in a CIDR block (`127.0.0.0/8`); names and IPv6 are not matched. */
export function inCidr(address: string, cidr: string): boolean {
  const [base, bits = '32'] = cidr.split('/');
  const a = ipv4(address);
  const b = ipv4(base ?? '');
  const n = Number(bits);
  if (a === undefined || b === undefined || !Number.isInteger(n) || n < 0 || n > 32) return false;
  const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

function ipv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((value, part) => ((value << 8) | Number(part)) >>> 0, 0);
}

/** Whether a manifest reference is a digest (`sha256:…`) rather than a tag, which never holds a `:`. */
export function isDigest(reference: string): boolean {
  return /^[a-z0-9+._-]+:[a-zA-Z0-9=_-]{32,}$/.test(reference);
}

/** The digest of a manifest as the registry computes it: sha256 of its bytes. */
export function manifestDigest(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

/** What the runner's proxy does with one request of the engine's push. */
export type ProxyRoute =
  | { kind: 'ping' }
  /** A manifest put under a tag: put by its digest instead, so that no tag moves. */
  | { kind: 'manifest'; reference: string }
  | { kind: 'forward' }
  | { kind: 'refuse'; reason: string };

/**
 * The route of an engine request to the proxy that stands in for the registry during an upload by digest. Only the
 * repository being pushed is reachable; a manifest is never put under a tag.
 */
export function proxyRoute(method: string, url: string, path: string): ProxyRoute {
  const pathname = url.split('?')[0]!;
  if (pathname === '/v2/' || pathname === '/v2') return { kind: 'ping' };
  const prefix = `/v2/${path}/`;
  if (!pathname.startsWith(prefix)) return { kind: 'refuse', reason: `not repository ${path}` };
  const rest = pathname.slice(prefix.length);
  const manifest = /^manifests\/([^/]+)$/.exec(rest);
  if (manifest) {
    if (method !== 'PUT') return { kind: 'forward' };
    return isDigest(decodeURIComponent(manifest[1]!))
      ? { kind: 'forward' }
      : { kind: 'manifest', reference: decodeURIComponent(manifest[1]!) };
  }
  if (/^blobs\/(uploads\/.*|[^/]+)$/.test(rest)) return { kind: 'forward' };
  return { kind: 'refuse', reason: `unexpected ${method} ${pathname}` };
}

/** A `Location` the registry answered, made relative so the engine keeps talking to the proxy. */
export function localLocation(location: string, upstream: string): string {
  return location.startsWith(upstream) ? location.slice(upstream.length) || '/' : location;
}

/**
 * The proxy's port for a registry: the same on every run (the engine records the repositories it pushed to by
 * host and port, so a changing port would only grow its records), in 40000..59999.
 */
export function proxyPort(server: string): number {
  const hash = createHash('sha256').update(server).digest();
  return 40_000 + (hash.readUInt32BE(0) % 20_000);
}
