import type { ServicePlan } from '../../core/plan.js';
import { PROXY_CONTAINER, planProxy, servicePorts } from '../../core/proxy.js';
import type { ServiceStatus } from '../target.js';
import type { HostProxy } from './proxy.js';

const portList = (ports: readonly number[]) => ports.map((port) => `:${port}`).join(', ');

/** What a deploy would do to the host's proxy, for `pipeline plan`. */
export async function describeProxy(proxy: HostProxy, services: readonly ServicePlan[], image: string): Promise<string> {
  const current = await proxy.observe();
  const { action, ports } = planProxy(current, image, services.filter((svc) => svc.proxy).flatMap(servicePorts));
  if (action === 'start') return `start ${PROXY_CONTAINER} (${image}) on ${portList(ports)}`;
  if (action === 'replace') return `replace ${PROXY_CONTAINER} (${current!.image} → ${image}): this restarts it`;
  if (!current!.running) return `${PROXY_CONTAINER} is not running: a deploy fails its preflight until it runs or is removed`;
  if (action === 'listen') return `restart ${PROXY_CONTAINER} to listen on ${portList(ports)}`;
  return `${PROXY_CONTAINER} (${current!.image}) on ${portList(current!.ports)}: left running`;
}

/** For `pipeline status`: where the host's proxy serves each of the project's proxied services from. */
export async function proxyStatus(proxy: HostProxy, project: string): Promise<(status: ServiceStatus) => string> {
  const current = await proxy.observe();
  if (!current) return () => 'no proxy on this host';
  if (!current.running) return () => `the proxy ${PROXY_CONTAINER} is not running`;
  const routes = await proxy.routes().catch(() => undefined);
  if (!routes) return () => `the proxy ${PROXY_CONTAINER} is not answering`;
  return (status) => {
    const mine = routes.filter((route) => route.project === project && route.service === status.service);
    if (mine.length === 0) return `not served by the proxy (${current.image})`;
    const upstream = mine[0]!.upstream.split(':')[0]!;
    const ports = portList(mine.map((route) => route.port));
    return status.containerId?.startsWith(upstream)
      ? `served by the proxy (${current.image}) on ${ports}`
      : `the proxy (${current.image}) serves ${ports} from container ${upstream}, not this one`;
  };
}
