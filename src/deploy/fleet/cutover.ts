/**
 * How a service's containers take turns on a host when the new one starts first (a proxied service, or one that binds
 * no fixed host port): the old one keeps running under its kept name until the new one is healthy and, for a
 * proxied service, the host's proxy serves the new one and the old one's requests have drained.
 */
import type Docker from 'dockerode';
import { keptName, startContainer, stopContainer } from '../../adapters/service.js';
import type { ServiceResult } from '../../core/changes.js';
import type { ServicePlan } from '../../core/plan.js';
import { type ProxyRoute, servicePorts, serviceRoutes, startsFirst } from '../../core/proxy.js';
import { type CurrentContainer, type HostView, holdsHostPorts, hostPortsHeld } from './observe.js';
import type { HostProxy } from './proxy.js';
import type { RestoreHost } from './restore.js';

/**
 * One service switched on a host: the container it replaced (kept), and the one now running — created by this
 * deploy, or a kept release brought back by a rollback (`restoredFrom` is its kept name). `routedFrom`: the proxy
 * serves the service from the new container; these are the routes it had before.
 */
export interface Switch {
  plan: Pick<ServicePlan, 'service' | 'container' | 'stopGraceMs'>;
  svc?: ServicePlan;
  keptId?: string;
  keptWasRunning: boolean;
  created?: string;
  restoredFrom?: string;
  routedFrom?: ProxyRoute[];
}

export interface CutoverHost extends RestoreHost {
  proxy: HostProxy;
}

/**
 * Puts `next` (a new container, or a kept release brought back) in place of `old`: started beside it when the
 * service starts first, else with the old one stopped (kept) while `next` is made; then `bringUp` starts it and waits
 * until healthy, and a proxied service is served from it.
 */
export async function cutOver(
  host: CutoverHost,
  record: Switch,
  old: CurrentContainer | undefined,
  next: () => Promise<Docker.Container>,
  bringUp: (container: Docker.Container) => Promise<void>,
): Promise<Docker.Container> {
  const svc = record.svc!;
  if (old && startsFirst(svc) && (!holdsHostPorts(old) || (svc.proxy && !record.restoredFrom)))
    return startBeside(host, record, old, next, bringUp);
  const container = old ? await keep(host, record, old, next) : await next();
  // A service proxied since this deploy: its old container has let go of the ports the proxy now takes.
  if (svc.proxy) await host.proxy.ensure(servicePorts(svc));
  await bringUp(container);
  await serve(host, record, container);
  return container;
}

/**
 * Renames the container of a service out of its name, keeping it for rollback, then stops it while `meanwhile`
 * runs; both have ended when this does (a rollback never races the stop).
 */
export async function keep<T>(host: CutoverHost, record: Switch, old: CurrentContainer, meanwhile: () => Promise<T>): Promise<T> {
  const { plan } = record;
  const id = old.info.Id;
  host.log(`${plan.service}: stopping ${plan.container} (${old.observed.image}), kept for rollback`);
  await host.api(host.docker.getContainer(id).rename({ name: keptName(plan.container, id) }), `renaming ${plan.container}`);
  record.keptId = id;
  const [result, stopped] = await Promise.allSettled([
    meanwhile(),
    host.api(stopContainer(host.docker.getContainer(id), plan.stopGraceMs), `stopping ${plan.container}`),
  ]);
  if (stopped.status === 'rejected') throw stopped.reason;
  if (result.status === 'rejected') throw result.reason;
  return result.value;
}

/** A healthy container of a proxied service is served by the host's proxy; the routes the service had are kept for an undo. */
export async function serve(host: CutoverHost, record: Switch, container: Docker.Container): Promise<void> {
  const svc = record.svc!;
  if (!svc.proxy) return;
  const upstream = container.id.slice(0, 12);
  record.routedFrom = await host.proxy.route(host.project, svc.service, serviceRoutes(host.project, svc, upstream));
  host.log(
    `${svc.service}: the proxy serves ${servicePorts(svc)
      .map((port) => `:${port}`)
      .join(', ')} from ${upstream}`,
  );
}

/**
 * The old container is renamed out of the way but keeps running while `next` (a new container, or a kept release at
 * the service's name) is brought up; once that is healthy and served, the old one stops, kept for rollback.
 *
 * The first proxied deploy of a service whose old container publishes its host ports itself: the proxy (and its
 * network, which the new container joins) is readied without the ports the old one holds, and is given the new one's
 * route (Caddy listens in its own container, where the host port being taken is no obstacle). Once the old one has
 * stopped, the proxy restarts to publish those ports: requests to them fail only between the two.
 */
export async function startBeside(
  host: CutoverHost,
  record: Switch,
  old: CurrentContainer,
  next: () => Promise<Docker.Container>,
  bringUp: (container: Docker.Container) => Promise<void>,
): Promise<Docker.Container> {
  const svc = record.svc!;
  const id = old.info.Id;
  const held = svc.proxy ? hostPortsHeld(old) : [];
  if (held.length > 0) await host.proxy.ensure(servicePorts(svc).filter((port) => !held.includes(port)));
  await host.api(host.docker.getContainer(id).rename({ name: keptName(svc.container, id) }), `renaming ${svc.container}`);
  record.keptId = id;
  const container = await next();
  await bringUp(container);
  await serve(host, record, container);
  const why = held.length > 0 ? ': the proxy takes its ports' : '';
  host.log(`${svc.service}: stopping the previous ${svc.container} (${old.observed.image}), kept for rollback${why}`);
  await host.api(stopContainer(host.docker.getContainer(id), svc.stopGraceMs), `stopping the previous ${svc.container}`);
  if (held.length > 0) await host.proxy.ensure(servicePorts(svc));
  return container;
}

/** A service the config no longer puts on a host: stopped and kept like a replaced one until the deploy has succeeded. */
export async function retire(host: CutoverHost, old: CurrentContainer, service: string, switched: Switch[]): Promise<ServiceResult> {
  const container = `${host.project}-${service}`;
  const record: Switch = { plan: { service, container, stopGraceMs: 10_000 }, keptWasRunning: old.observed.running };
  switched.push(record);
  await keep(host, record, old, async () => undefined);
  return { service, container, image: old.observed.image, action: 'removed' };
}

/**
 * An undo while the proxy serves the service from the container this deploy brought up: the previous container
 * runs (and is healthy) again first, then the proxy goes back to the routes it had and the new one's requests drain.
 */
export async function unroute(host: CutoverHost, record: Switch): Promise<void> {
  const svc = record.svc!;
  if (record.keptId && record.routedFrom!.length > 0) {
    const kept = host.docker.getContainer(record.keptId);
    await host.api(startContainer(kept), `restarting the previous ${svc.container}`);
    await host
      .healthy(kept, svc)
      .catch((error: Error) => host.log(`${svc.service}: the previous container is not healthy again: ${error.message}`));
  }
  await host.proxy.route(host.project, svc.service, record.routedFrom!);
}

/**
 * Before an interrupted deploy's leftovers are removed: a proxied service the proxy still serves from one of them is
 * served again from the verified container that ran before it (started if the deploy had stopped it, healthy), the
 * leftover's requests drained, so that cleaning up drops no request. A first deploy that died has nothing verified
 * to go back to: its leftover simply goes.
 */
export async function serveVerifiedAgain(host: CutoverHost, view: HostView, services: readonly ServicePlan[]): Promise<void> {
  const proxied = services.filter((svc) => svc.proxy && view.current.has(svc.service));
  if (proxied.length === 0 || view.leftovers.length === 0) return;
  const leftovers = new Set(view.leftovers.map((leftover) => leftover.id.slice(0, 12)));
  const served = (await host.proxy.routes()).filter(
    (route) => route.project === host.project && leftovers.has(route.upstream.split(':')[0]!),
  );
  for (const svc of proxied.filter((s) => served.some((route) => route.service === s.service))) {
    const { info } = view.current.get(svc.service)!;
    const container = host.docker.getContainer(info.Id);
    await host.api(startContainer(container), `starting the previous ${svc.container}`);
    await host.healthy(container, svc);
    await host.proxy.route(host.project, svc.service, serviceRoutes(host.project, svc, info.Id.slice(0, 12)));
    host.log(`${svc.service}: the proxy serves the release an interrupted deploy was replacing again`);
  }
}
