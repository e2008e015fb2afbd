import type Docker from 'dockerode';
import { adminRequest, ensureProxyNetwork, proxySpec, publishedPorts } from '../../adapters/proxy.js';
import { findContainer, stopContainer } from '../../adapters/service.js';
import type { ProxyPlan } from '../../core/plan.js';
import {
  caddyConfig,
  type ObservedProxy,
  PROXY_CONTAINER,
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
const ANSWER_WITHIN_MS = 15_000;
const POLL_MS = 100;

/**
 * The host's proxy as one deploy sees it: started when first needed, replaced when its image changes or it must
 * listen on a new port, and told where each of this project's proxied services is now served from. Changes are made
 * one at a time (the services of a host switch at once) and always as a whole configuration: the routes the proxy
 * reports, other projects' included, with this service's replaced.
 */
export class HostProxy {
  private queue: Promise<unknown> = Promise.resolve();

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

  private admin(path: string, body?: unknown, timeoutMs = ADMIN_TIMEOUT_MS): Promise<string> {
    return engineCall(this.host, adminRequest(this.docker, path, { body, timeoutMs }), `proxy ${PROXY_CONTAINER}`, timeoutMs + 5_000);
  }

  /** The proxy the host runs, or undefined. */
  async observe(): Promise<ObservedProxy | undefined> {
    const info = await engineCall(this.host, findContainer(this.docker, PROXY_CONTAINER), `inspecting ${PROXY_CONTAINER}`);
    return info ? { image: info.Config.Image, running: info.State.Running, ports: publishedPorts(info) } : undefined;
  }

  /** Preflight: a host that has a proxy needs it running and answering (none yet is fine: the switch starts it). */
  async check(): Promise<void> {
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
    return routesOf(JSON.parse((await this.admin('/config/')).trim() || 'null'));
  }

  /** Makes sure the proxy runs the configured image and publishes `ports`, starting or replacing it as needed. */
  ensure(ports: readonly number[]): Promise<void> {
    return this.serial(async () => {
      const current = await this.observe();
      const { action, ports: all } = planProxy(current, this.plan.image, ports);
      if (action === 'leave') return;
      const list = all.map((port) => `:${port}`).join(', ');
      if (action === 'start') this.log(`proxy: starting ${PROXY_CONTAINER} (${this.plan.image}) on ${list}`);
      if (action === 'replace') this.log(`proxy: replacing ${PROXY_CONTAINER} (${current!.image} → ${this.plan.image}): this restarts it`);
      if (action === 'listen') this.log(`proxy: restarting ${PROXY_CONTAINER} to listen on ${list}`);
      await engineCall(this.host, ensureProxyNetwork(this.docker), 'creating the proxy network');
      if (current) {
        // Caddy stops gracefully on SIGTERM; its configuration stays in its volume for the new container.
        const old = this.docker.getContainer(PROXY_CONTAINER);
        await engineCall(
          this.host,
          stopContainer(old, this.plan.drainTimeoutMs).then(() => old.remove({ force: true })),
          `removing ${PROXY_CONTAINER}`,
          this.plan.drainTimeoutMs + 60_000,
        );
      }
      const created = await engineCall(
        this.host,
        this.docker.createContainer(proxySpec(this.plan.image, all)),
        `creating ${PROXY_CONTAINER}`,
      );
      await engineCall(this.host, created.start(), `starting ${PROXY_CONTAINER}`);
      await this.answering();
    });
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
      const current = await this.routes();
      const { routes: next, conflict } = withServiceRoutes(current, project, service, routes);
      if (conflict)
        throw new HostError(
          this.host,
          `${service}: port ${conflict.port} is already served by the proxy to ${conflict.project} ${conflict.service}`,
        );
      const before = current.filter((route) => route.project === project && route.service === service);
      const draining = before.filter((old) => routes.some((route) => route.port === old.port && route.upstream !== old.upstream));
      await this.admin('/load', caddyConfig(next, this.plan.drainTimeoutMs, draining));
      if (draining.length > 0) await this.drain(draining.map((route) => route.upstream));
      return before;
    });
  }

  /** Waits until the proxy has no request in flight to `upstreams`, for at most the drain timeout. */
  private async drain(upstreams: readonly string[]): Promise<void> {
    const until = Date.now() + this.plan.drainTimeoutMs;
    for (;;) {
      const stats = JSON.parse((await this.admin('/reverse_proxy/upstreams')).trim() || '[]') as {
        address: string;
        num_requests: number;
      }[];
      const inFlight = stats.filter((s) => upstreams.includes(s.address)).reduce((sum, s) => sum + s.num_requests, 0);
      if (inFlight === 0) return;
      if (Date.now() > until) {
        this.log(`proxy: ${inFlight} request(s) still in flight after the drain timeout (${this.plan.drainTimeoutMs / 1000}s)`);
        return;
      }
      await delay(POLL_MS);
    }
  }
}
