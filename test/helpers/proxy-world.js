// The proxied example: an app answering its release, the hosts' proxy reset, deploys under a request loop.
import { failures, requestLoop } from './load.js';
import { resetHosts } from './world.js';

export const PROXY = 'pipeline-proxy';

/** The example's handler, answering its release on /health (503 when not healthy) and on /slow after 1.5 s. */
export const proxiedApp = (release, healthy = true) => `export function handle(request, response) {
  if (request.url === '/health') {
    response.writeHead(${healthy ? 200 : 503}, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ status: '${healthy ? 'ok' : 'down'}', release: '${release}' }));
    return;
  }
  if (request.url === '/slow') { setTimeout(() => { response.writeHead(200); response.end('${release}'); }, 1500); return; }
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end('${release}\\n');
}
`;

/**
 * Removes the proxy and its lock, its volume and network, and the projects' containers, from the hosts (all of them
 * unless `engines` names some).
 */
export async function resetProxyHosts(world, projects, engines = world.engines) {
  for (const project of projects) await resetHosts(world, project);
  await Promise.all(
    engines.map(async (engine) => {
      for (const name of [PROXY, `${PROXY}-lock`])
        await engine
          .getContainer(name)
          .remove({ force: true })
          .catch(() => undefined);
      await engine
        .getVolume('pipeline-proxy-config')
        .remove()
        .catch(() => undefined);
      // By id: deploys that raced before the proxy lock could leave two networks of the name.
      const networks = await engine.listNetworks({ filters: { name: ['pipeline'] } });
      for (const network of networks.filter((n) => n.Name === 'pipeline'))
        await engine
          .getNetwork(network.Id)
          .remove()
          .catch(() => undefined);
    }),
  );
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `deploy` with request loops against `urls` from a second before it until a second after. */
export async function underLoad(urls, deploy, rate = 50) {
  const loops = urls.map((address) => requestLoop(address, { rate, maxMs: 240_000 }));
  await pause(1000);
  const result = await deploy();
  await pause(1000);
  const requests = await Promise.all(loops.map((loop) => loop.stop()));
  requests.forEach((list, i) => {
    list.url = urls[i];
  });
  return { result, requests };
}

/** Every request of every loop answered 2xx. */
export function assertNoFailure(t, requests, result) {
  for (const list of requests) {
    const failed = failures(list);
    const shown = failed.slice(0, 3).map((r) => ({ ...r, at: new Date(r.at).toISOString() }));
    t.is(failed.length, 0, `${failed.length} of ${list.length} requests to ${list.url} failed: ${JSON.stringify(shown)}\n${result.output}`);
  }
}
