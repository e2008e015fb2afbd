import type Docker from 'dockerode';
import {
  type AdminAnswer,
  adminRequest,
  ConfigChanged,
  ensureProxyNetwork,
  MIGRATE_SYSCTL,
  proxyLockAge,
  proxyNetworks,
  proxySpec,
  publishedPorts,
  removeProxyLock,
  takeProxyLock,
} from '../../adapters/proxy.js';
import { findContainer, stopContainer } from '../../adapters/service.js';
import type { ProxyPlan } from '../../core/plan.js';
import {
  caddyConfig,
  configEtag,
  drainingOf,
  type ObservedProxy,
  PROXY_CONTAINER,
  PROXY_LOCK,
  type ProxyRoute,
  planProxy,
  routesOf,
  withServiceRoutes,
} from '../../core/proxy.js';
import { delay } from '../../core/time.js';
import { HostError } from '../../errors.js';
import { engineCall } from '../engine-call.js';
import type { Log } from '../target.js';

const ADMIN_TIMEOUT_MS = 10_000;
/** How often a drain asks the proxy about requests in flight: at first soon, then less and less often. */
const DRAIN_POLL_MS = [100, 200, 400, 800, 1000];
const ANSWER_WITHIN_MS = 15_000;
const POLL_MS = 100;
const UPSTREAMS = '/reverse_proxy/upstreams';
/** How long a deploy may hold the proxy lock beyond the drain timeout (stopping the old proxy drains it). */
const LOCK_TTL_MS = 120_000;
const LOCK_POLL_MS = 250;
/** Tries of a configuration change that another deploy's change (or a restart of the proxy) got in the way of. */
const LOAD_TRIES = 8;

interface ProxyConfig {
  config: unknown;
  etag: string;
}

/**
 * The host's proxy as one deploy sees it: started when first needed, replaced when its image changes or it must
 * listen on a new port, and told where each of this project's proxied services is now served from. Changes are made
 * one at a time (the services of a host switch at once) and always as a whole configuration: the routes the proxy
 * reports, other projects' included, with this service's replaced.
 */
export class HostProxy {
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * The configuration last read (by the preflight, usually), for the next change to start from instead of reading it
   * again during the switch: if another deploy changed it since, its ETag no longer matches and it is read again.
   */
  private lastRead: ProxyConfig | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly host: string,
    private readonly plan: ProxyPlan,
    private readonly log: Log,
  ) {}

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private admin(path: string, options: { body?: unknown; ifMatch?: string; andGet?: string } = {}): Promise<AdminAnswer> {
    const request = adminRequest(this.docker, path, { ...options, timeoutMs: ADMIN_TIMEOUT_MS });
    return engineCall(this.host, request, `proxy ${PROXY_CONTAINER}`, ADMIN_TIMEOUT_MS + 5_000);
  }

  /** The proxy's whole configuration and the ETag to change it with (Caddy's header, else computed as Caddy 2.6 does). */
  private async config(): Promise<ProxyConfig> {
    const { body, etag } = await this.admin('/config/');
    this.lastRead = { config: JSON.parse(body.toString().trim() || 'null'), etag: etag ?? configEtag(body) };
    return this.lastRead;
  }

  /** The proxy the host runs, or undefined. */
  async observe(): Promise<ObservedProxy | undefined> {
    const info = await engineCall(this.host, findContainer(this.docker, PROXY_CONTAINER), `inspecting ${PROXY_CONTAINER}`);
    return info ? { image: info.Config.Image, running: info.State.Running, ports: publishedPorts(info) } : undefined;
  }

  /**
   * Preflight: a host that has a proxy needs it running and answering (none yet is fine: the switch starts it). A
   * proxy another deploy is restarting (it holds the proxy lock) is waited for.
   */
  async check(): Promise<void> {
    await this.unlocked();
    const current = await this.observe();
    if (!current) return;
    if (!current.running)
      throw new HostError(
        this.host,
        `the proxy ${PROXY_CONTAINER} is not running: start it (docker start ${PROXY_CONTAINER}) or remove it, and the deploy starts a new one`,
      );
    await this.routes().catch((error: Error) => {
      throw new HostError(
        this.host,
        `the proxy ${PROXY_CONTAINER} is not answering: ${error instanceof HostError ? error.reason : error.message}`,
      );
    });
  }

  /** Every route the proxy serves, whichever project's. */
  async routes(): Promise<ProxyRoute[]> {
    return routesOf((await this.config()).config);
  }

  /**
   * Makes sure the proxy runs the configured image and publishes `ports`, starting or replacing it as needed. A change
   * is decided again under the host's proxy lock, so that of two deploys adding ports at once neither loses its own.
   */
  ensure(ports: readonly number[]): Promise<void> {
    return this.serial(async () => {
      const networks = () => engineCall(this.host, proxyNetworks(this.docker), 'listing networks');
      if (planProxy(await this.observe(), this.plan.image, ports).action === 'leave' && (await networks()).length === 1) return;
      await this.locked(async () => {
        const current = await this.observe();
        const { action, ports: all } = planProxy(current, this.plan.image, ports);
        if (action === 'leave') {
          await engineCall(this.host, ensureProxyNetwork(this.docker), 'mending the proxy network');
          return;
        }
        const list = all.map((port) => `:${port}`).join(', ');
        if (action === 'start') this.log(`proxy: starting ${PROXY_CONTAINER} (${this.plan.image})${list ? ` on ${list}` : ''}`);
        if (action === 'replace')
          this.log(`proxy: replacing ${PROXY_CONTAINER} (${current!.image} → ${this.plan.image}): this restarts it`);
        if (action === 'listen') this.log(`proxy: restarting ${PROXY_CONTAINER} to listen on ${list}`);
        await this.restart(current !== undefined, all);
      });
    });
  }

  private async restart(running: boolean, ports: number[]): Promise<void> {
    await engineCall(this.host, ensureProxyNetwork(this.docker), 'creating the proxy network');
    if (running) {
      // Caddy stops gracefully on SIGTERM; its configuration stays in its volume for the new container.
      const old = this.docker.getContainer(PROXY_CONTAINER);
      await engineCall(
        this.host,
        stopContainer(old, this.plan.drainTimeoutMs).then(() => old.remove({ force: true })),
        `removing ${PROXY_CONTAINER}`,
        this.plan.drainTimeoutMs + 60_000,
      );
    }
    await this.start(ports, true).catch(async (error: HostError) => {
      if (!error.reason.includes(MIGRATE_SYSCTL)) throw error;
      await engineCall(this.host, this.docker.getContainer(PROXY_CONTAINER).remove({ force: true }), `removing ${PROXY_CONTAINER}`);
      this.log(
        `proxy: this host's kernel has no ${MIGRATE_SYSCTL} (Linux 5.14+): a configuration change may reset a connection being accepted`,
      );
      await this.start(ports, false);
    });
    await this.answering();
  }

  private async start(ports: number[], migrate: boolean): Promise<void> {
    const spec = proxySpec(this.plan.image, ports, migrate);
    const created = await engineCall(this.host, this.docker.createContainer(spec), `creating ${PROXY_CONTAINER}`);
    await engineCall(this.host, created.start(), `starting ${PROXY_CONTAINER}`);
  }

  private get lockTtlMs(): number {
    return this.plan.drainTimeoutMs + LOCK_TTL_MS;
  }

  /** Runs `work` holding the host's proxy lock, waiting for another deploy's (at most until it would have expired). */
  private async locked<T>(work: () => Promise<T>): Promise<T> {
    const until = Date.now() + this.lockTtlMs + LOCK_POLL_MS * 4;
    let id: string | undefined;
    while (!id) {
      id = await engineCall(this.host, takeProxyLock(this.docker, this.plan.image, this.lockTtlMs), `taking ${PROXY_LOCK}`);
      if (id) break;
      if (Date.now() > until) throw new HostError(this.host, `${PROXY_LOCK} is held by another deploy and was not given back`);
      await delay(LOCK_POLL_MS);
    }
    try {
      return await work();
    } finally {
      await engineCall(this.host, removeProxyLock(this.docker, id), `removing ${PROXY_LOCK}`).catch((error: HostError) =>
        this.log(`proxy: ${error.reason} (it expires in ${this.lockTtlMs / 1000}s)`),
      );
    }
  }

  /** Waits while another deploy holds the proxy lock (it is starting or restarting the proxy); resolves whether it did. */
  private async unlocked(): Promise<boolean> {
    let waited = false;
    for (;;) {
      const held = await engineCall(this.host, proxyLockAge(this.docker), `inspecting ${PROXY_LOCK}`);
      if (!held || held.ageMs > this.lockTtlMs) return waited;
      waited = true;
      await delay(LOCK_POLL_MS);
    }
  }

  private async answering(): Promise<void> {
    const until = Date.now() + ANSWER_WITHIN_MS;
    for (;;) {
      const error = await this.routes().then(
        () => undefined,
        (e: Error) => e,
      );
      if (!error) return;
      if (Date.now() > until)
        throw new HostError(
          this.host,
          `the proxy ${PROXY_CONTAINER} did not answer within ${ANSWER_WITHIN_MS / 1000}s: ${error instanceof HostError ? error.reason : error.message}`,
        );
      await delay(POLL_MS);
    }
  }

  /**
   * Serves the service's ports from `routes` (none: no longer served), keeping every other route, and resolves with
   * the routes the service had, for an undo. New requests go to the new upstream at once; the old upstream's
   * requests in flight are waited for (at most the drain timeout): then it can be stopped. It stays named in the
   * configuration, behind its route that matches nothing, until the service's next switch: one configuration change
   * per switch, as each change is a moment every server of the proxy goes through.
   */
  route(project: string, service: string, routes: readonly ProxyRoute[]): Promise<ProxyRoute[]> {
    return this.serial(async () => {
      const { before, draining, upstreams } = await this.load(project, service, routes);
      if (draining.length > 0)
        await this.drain(
          draining.map((route) => route.upstream),
          upstreams,
        );
      return before;
    });
  }

  /**
   * Reads the configuration, changes the service's routes in it and loads it, only if it is still the one read (its
   * ETag): another deploy's change in between (another project, or another environment, on this host) is read again,
   * so that neither drops the other's routes. A proxy being restarted meanwhile is waited for. Upstreams other
   * services are draining stay counted.
   */
  private async load(
    project: string,
    service: string,
    routes: readonly ProxyRoute[],
  ): Promise<{ before: ProxyRoute[]; draining: ProxyRoute[]; upstreams?: Buffer }> {
    const mine = (route: ProxyRoute) => route.project === project && route.service === service;
    for (let attempt = 1; ; attempt++) {
      const { config, etag } = (attempt === 1 && this.lastRead) || (await this.config());
      this.lastRead = undefined;
      const current = routesOf(config);
      const { routes: next, conflict } = withServiceRoutes(current, project, service, routes);
      if (conflict)
        throw new HostError(
          this.host,
          `${service}: port ${conflict.port} is already served by the proxy to ${conflict.project} ${conflict.service}`,
        );
      const before = current.filter(mine);
      const draining = before.filter((old) => routes.some((route) => route.port === old.port && route.upstream !== old.upstream));
      const others = drainingOf(config).filter((route) => !mine(route));
      const body = caddyConfig(next, this.plan.drainTimeoutMs, [...others, ...draining]);
      const loaded = await this.admin('/config/', { body, ifMatch: etag, ...(draining.length > 0 ? { andGet: UPSTREAMS } : {}) }).then(
        (answer) => answer,
        (error: HostError) => error,
      );
      if (!(loaded instanceof HostError)) return { before, draining, ...(loaded.andGot ? { upstreams: loaded.andGot } : {}) };
      if (attempt >= LOAD_TRIES) throw loaded;
      if (loaded.cause instanceof ConfigChanged) {
        this.log(`proxy: its configuration changed meanwhile (another deploy): ${service} is switched again from it`);
        await delay(Math.random() * 50 * attempt);
      } else if (!(await this.unlocked()) && attempt > 1) throw loaded; // tried again once: a restart may have just ended
    }
  }

  /**
   * Waits until the proxy has no request in flight to `upstreams`, for at most the drain timeout; `first`: the
   * proxy's answer of the moment it was switched.
   */
  private async drain(upstreams: readonly string[], first?: Buffer): Promise<void> {
    const until = Date.now() + this.plan.drainTimeoutMs;
    for (let poll = 0; ; poll++) {
      const answer = poll === 0 && first ? first : (await this.admin(UPSTREAMS)).body;
      const stats = JSON.parse(answer.toString().trim() || '[]') as { address: string; num_requests: number }[];
      const inFlight = stats.filter((s) => upstreams.includes(s.address)).reduce((sum, s) => sum + s.num_requests, 0);
      if (inFlight === 0) return;
      if (Date.now() > until) {
        this.log(`proxy: ${inFlight} request(s) still in flight after the drain timeout (${this.plan.drainTimeoutMs / 1000}s)`);
        return;
      }
      await delay(DRAIN_POLL_MS[Math.min(poll, DRAIN_POLL_MS.length - 1)]!);
    }
  }
}
