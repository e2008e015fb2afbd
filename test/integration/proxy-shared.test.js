// The host's proxy shared: by two projects deploying to the host at the same instant (neither's route is lost), and
// with a service's own container whose host port it takes over.
import test from 'ava';
import { failures, requestLoop } from '../helpers/load.js';
import { PROXY, proxiedApp, resetProxyHosts } from '../helpers/proxy-world.js';
import { commitOnBranch, execOutput, loadWorld, makeRepo, NO_CI, pipeline, worldConfig, writeConfig } from '../helpers/world.js';

const PROJECTS = [
  { project: 'proxyrace-a', port: 8182 },
  { project: 'proxyrace-b', port: 8183 },
];
/** A service deployed with its own host port first, then proxied. */
const ADOPTED = { project: 'proxyrace-c', port: 8184 };
const ROUNDS = 4;

let world;
let repo;
let env;
let configs;
let adopted;

function raceConfig({ project, port }, proxy = true) {
  const base = worldConfig(world);
  return {
    ...base,
    project,
    // Each project its own repository, as projects have (a deploy removes the images of its repository no container uses).
    image: `${world.registry}/proxyrace/${project}`,
    proxy: { image: world.caddyImage, drainTimeout: '5s' },
    environments: { race: { hosts: { web: [world.hosts[1]] } } },
    services: {
      web: {
        roles: ['web'],
        command: ['node', 'server.js'],
        ports: [`${port}:8000`],
        proxy,
        healthcheck: { http: { path: '/health', port: 8000 }, interval: '500ms', retries: 10 },
        stopGracePeriod: '5s',
      },
    },
  };
}

/** The host of the race (h2) without a proxy, its lock, volume and network, or any of the projects' containers. */
const resetRaceHost = () =>
  resetProxyHosts(
    world,
    [...PROJECTS, ADOPTED].map((p) => p.project),
    [world.engines[1]],
  );

const run = (args, file) => pipeline(['--config', file, ...args], { cwd: repo.work, env });

async function releaseAt(port) {
  const response = await fetch(`http://${world.hosts[1]}:${port}/health`, { signal: AbortSignal.timeout(5_000) });
  return (await response.json()).release;
}

test.before(async () => {
  world = await loadWorld();
  await resetRaceHost();
  repo = await makeRepo();
  env = { ...process.env, ...NO_CI };
  configs = await Promise.all(PROJECTS.map((p) => writeConfig(repo, raceConfig(p), `${p.project}.json`)));
  adopted = {
    plain: await writeConfig(repo, raceConfig(ADOPTED, false), 'adopted-plain.json'),
    proxied: await writeConfig(repo, raceConfig(ADOPTED), 'adopted-proxied.json'),
  };
  // Both releases built and pushed for each project (no host touched): develop answers v1, feature/v2 answers v2.
  await commitOnBranch(repo, 'develop', 'develop', { 'app.js': proxiedApp('v1') });
  await commitOnBranch(repo, 'feature/v2', 'develop', { 'app.js': proxiedApp('v2') });
  for (const branch of ['develop', 'feature/v2']) {
    await repo.git('checkout', '-q', branch);
    for (const file of [...configs, adopted.plain]) {
      const built = await run(['run', '--skip', 'deploy'], file);
      if (built.code !== 0) throw new Error(`building ${branch} failed:\n${built.output}`);
    }
  }
});

test.after.always(async () => {
  if (world) await resetRaceHost();
  await repo?.cleanup();
});

test.serial("a service's first proxied deploy: the new container is healthy and routed before the old one gives up its port", async (t) => {
  const { plain, proxied } = adopted;
  const first = await run(['deploy', 'race', '--docker-tag', 'develop'], plain);
  t.is(first.code, 0, first.output);
  const engine = world.engines[1];
  const old = await engine.getContainer(`${ADOPTED.project}-web`).inspect();
  const loop = requestLoop(`http://${world.hosts[1]}:${ADOPTED.port}/health`, { rate: 50, maxMs: 120_000 });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const result = await run(['deploy', 'race', '--docker-tag', 'feature/v2'], proxied);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const requests = await loop.stop();
  t.is(result.code, 0, result.output);
  t.log(`${failures(requests).length} of ${requests.length} requests failed while the port was handed over`);
  t.is(
    JSON.parse(requests.at(-1).body).release,
    'v2',
    `the proxy serves the new release (${failures(requests).length} of ${requests.length} requests failed during the handover)`,
  );
  const lines = result.output.split('\n');
  const order = [
    /web: healthy/,
    /web: the proxy serves :8184 from/,
    /web: stopping the previous proxyrace-c-web .*the proxy takes its ports/,
    /proxy: restarting pipeline-proxy to listen on .*:8184/,
  ];
  const at = order.map((pattern) => lines.findIndex((line) => pattern.test(line)));
  t.true(
    at.every((index, i) => index >= 0 && (i === 0 || index > at[i - 1])),
    `healthy, routed, then the old one stops and the proxy takes the port:\n${result.output}`,
  );
  const fresh = await engine.getContainer(`${ADOPTED.project}-web`).inspect();
  const previous = await engine.getContainer(old.Id).inspect();
  t.false(previous.State.Running, 'the old container is stopped, kept for rollback');
  t.true(
    new Date(previous.State.FinishedAt) > new Date(fresh.State.StartedAt),
    'the old container served until after the new one had started',
  );
});

test.serial('two projects deployed to the same host at the same instant: both routes stay, each serves its own release', async (t) => {
  const tags = ['develop', 'feature/v2'];
  const served = { develop: 'v1', 'feature/v2': 'v2' };
  // The first round also races the proxy's start (no proxy on the host) and its restart to listen on the second port.
  await resetRaceHost();
  for (let round = 0; round < ROUNDS; round++) {
    const wanted = PROJECTS.map((_, i) => tags[(round + i) % 2]);
    const results = await Promise.all(configs.map((file, i) => run(['deploy', 'race', '--docker-tag', wanted[i]], file)));
    const retried = results.filter((result) => /its configuration changed meanwhile/.test(result.output)).length;
    t.log(`round ${round}: ${retried} of the two deploys found the configuration changed by the other and switched again`);
    for (const [i, result] of results.entries()) t.is(result.code, 0, `round ${round}, ${PROJECTS[i].project}:\n${result.output}`);
    for (const [i, { project, port }] of PROJECTS.entries()) {
      const release = await releaseAt(port).catch((error) => `no answer (${error.message})`);
      t.is(release, served[wanted[i]], `round ${round}: :${port} serves ${project}'s ${wanted[i]}`);
    }
  }
  const { output } = await execOutput(world.engines[1], PROXY, ['wget', '-q', '-O', '-', 'http://localhost:2019/config/apps/http/servers']);
  const servers = Object.keys(JSON.parse(output));
  t.deepEqual(servers.sort(), ['proxyrace-a/web/8182', 'proxyrace-b/web/8183']);
});
