/**
 * The host's proxy, as data: which project and service each host port is served to, the Caddy configuration made
 * from those routes, and how a service's containers take turns (start first, switch the proxy, drain, stop the old).
 */
import type { ServicePlan } from './plan.js';

/** One proxy per host, shared by every project deployed there. */
export const PROXY_CONTAINER = 'pipeline-proxy';
/** The Docker network the proxy reaches the proxied containers on, by their short id. */
export const PROXY_NETWORK = 'pipeline';
/** Where the proxy keeps its last configuration, so that a restarted or replaced proxy serves the same routes at once. */
export const PROXY_VOLUME = 'pipeline-proxy-config';
/** Caddy's admin API, inside the proxy container's own network namespace only. */
export const PROXY_ADMIN = 'localhost:2019';
/**
 * The container whose name is the host's proxy lock, held by a deploy while it starts or restarts the proxy: the
 * engine creates one container of a name at a time, whichever runner or SSH user asks.
 */
export const PROXY_LOCK = 'pipeline-proxy-lock';

/** A host port served by the proxy to one project's service: `upstream` is where the proxy sends it (`host:port`). */
export interface ProxyRoute {
  port: number;
  project: string;
  service: string;
  upstream: string;
}

/** The routes of a proxied service on a host: each `HOST:CONTAINER` port goes to that port of `upstreamHost`. */
export function serviceRoutes(project: string, svc: Pick<ServicePlan, 'service' | 'ports'>, upstreamHost: string): ProxyRoute[] {
  return svc.ports.map((entry) => {
    const [host, container] = entry.split('/')[0]!.split(':');
    return { port: Number(host), project, service: svc.service, upstream: `${upstreamHost}:${container}` };
  });
}

/** The host ports a proxied service is served on. */
export function servicePorts(svc: Pick<ServicePlan, 'ports'>): number[] {
  return svc.ports.map((entry) => Number(entry.split('/')[0]!.split(':')[0]));
}

const serverName = (route: ProxyRoute): string => `${route.project}/${route.service}/${route.port}`;

/**
 * The proxy's whole configuration: one Caddy server per host port, reverse-proxying to its upstream. An upstream
 * being drained (`draining`: the routes a service had before a switch) stays in its port's server behind a route
 * that matches no request, so that Caddy keeps counting the requests still in flight to it (its
 * `/reverse_proxy/upstreams` forgets an upstream that no configuration names).
 */
export function caddyConfig(routes: readonly ProxyRoute[], drainMs: number, draining: readonly ProxyRoute[] = []): Record<string, unknown> {
  const proxyTo = (upstream: string) => ({
    handler: 'reverse_proxy',
    upstreams: [{ dial: upstream }],
    // A connection the upstream refuses is tried again for a moment instead of failing the request.
    load_balancing: { try_duration: '2s', try_interval: '100ms' },
  });
  const servers = Object.fromEntries(
    [...routes]
      .sort((a, b) => a.port - b.port)
      .map((route) => [
        serverName(route),
        {
          listen: [`:${route.port}`],
          automatic_https: { disable: true },
          routes: [
            { handle: [proxyTo(route.upstream)] },
            ...draining
              .filter((old) => old.port === route.port && old.upstream !== route.upstream)
              .map((old) => ({ match: [{ expression: 'false' }], handle: [proxyTo(old.upstream)] })),
          ],
        },
      ]),
  );
  return { admin: { listen: PROXY_ADMIN }, apps: { http: { grace_period: `${drainMs}ms`, servers } } };
}

/** The routes in a configuration the proxy reports (servers this module made; anything else is not the pipeline's). */
export function routesOf(config: unknown): ProxyRoute[] {
  const servers = (config as { apps?: { http?: { servers?: Record<string, unknown> } } } | null)?.apps?.http?.servers ?? {};
  return Object.entries(servers).flatMap(([name, server]) => {
    const match = /^([^/]+)\/([^/]+)\/(\d+)$/.exec(name);
    const dial = (server as { routes?: { handle?: { upstreams?: { dial?: string }[] }[] }[] }).routes?.[0]?.handle?.[0]?.upstreams?.[0]
      ?.dial;
    return match && dial ? [{ project: match[1]!, service: match[2]!, port: Number(match[3]), upstream: dial }] : [];
  });
}

/** The upstreams a configuration still counts requests for, behind a route that matches nothing (see caddyConfig). */
export function drainingOf(config: unknown): ProxyRoute[] {
  const servers = (config as { apps?: { http?: { servers?: Record<string, unknown> } } } | null)?.apps?.http?.servers ?? {};
  return Object.entries(servers).flatMap(([name, server]) => {
    const match = /^([^/]+)\/([^/]+)\/(\d+)$/.exec(name);
    if (!match) return [];
    const routes = (server as { routes?: { handle?: { upstreams?: { dial?: string }[] }[] }[] }).routes ?? [];
    return routes.slice(1).flatMap((route) => {
      const dial = route.handle?.[0]?.upstreams?.[0]?.dial;
      return dial ? [{ project: match[1]!, service: match[2]!, port: Number(match[3]), upstream: dial }] : [];
    });
  });
}

/**
 * The ETag Caddy 2.6 gives the configuration it answers `GET /config/` with (`"/config/ " + FNV-1a 32 of the body`):
 * it sends it as an HTTP trailer, which the image's wget does not show, so it is computed from the same bytes.
 * Later versions send it as a header, which is used instead.
 */
export function configEtag(body: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (const byte of body) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return `"/config/ ${hash.toString(16).padStart(8, '0')}"`;
}

/**
 * The routes once a service's are replaced by `next` (none: the service is no longer served). A port already served
 * to another project or service is a conflict: the routes are left as they are and the conflicting route is returned.
 */
export function withServiceRoutes(
  current: readonly ProxyRoute[],
  project: string,
  service: string,
  next: readonly ProxyRoute[],
): { routes: ProxyRoute[]; conflict?: ProxyRoute } {
  const others = current.filter((route) => route.project !== project || route.service !== service);
  const conflict = others.find((route) => next.some((mine) => mine.port === route.port));
  if (conflict) return { routes: [...current], conflict };
  return { routes: [...others, ...next] };
}

/** Whom a host port is served to, as people read it. */
export function describeRoute(route: ProxyRoute): string {
  return `:${route.port} → ${route.project} ${route.service}`;
}

/**
 * Whether a service's new container starts before its old one stops: a proxied service (the proxy switches between
 * them) and any service that binds no fixed host port (a worker: its queue is never without a consumer). A service
 * that publishes a fixed host port itself must let go of it first.
 */
export function startsFirst(svc: Pick<ServicePlan, 'proxy' | 'ports'>): boolean {
  return svc.proxy || !svc.ports.some((entry) => entry.split('/')[0]!.includes(':'));
}

/** What a deploy does to the host's proxy. */
export type ProxyAction = 'start' | 'replace' | 'listen' | 'leave';

/** The proxy the host runs (its image and published ports), or none. */
export interface ObservedProxy {
  image: string;
  running: boolean;
  ports: number[];
}

/** The host's proxy once the services need `ports` served by `image`: started, replaced (a new image), restarted to listen on more ports, or left running. */
export function planProxy(
  current: ObservedProxy | undefined,
  image: string,
  ports: readonly number[],
): { action: ProxyAction; ports: number[] } {
  if (!current) return { action: 'start', ports: [...new Set(ports)].sort((a, b) => a - b) };
  const all = [...new Set([...current.ports, ...ports])].sort((a, b) => a - b);
  if (current.image !== image) return { action: 'replace', ports: all };
  return { action: all.length > current.ports.length || !current.running ? 'listen' : 'leave', ports: all };
}

/** How a change to a service is cut over, for `pipeline plan`; undefined: the old container stops before the new one starts. */
export function cutoverNote(svc: Pick<ServicePlan, 'proxy' | 'ports'>): string | undefined {
  if (svc.proxy)
    return `start beside the old one, switch the proxy (${servicePorts(svc)
      .map((port) => `:${port}`)
      .join(', ')}) once healthy, drain, stop the old one`;
  if (startsFirst(svc)) return 'start before the old one stops, stop it once healthy';
  return undefined;
}
