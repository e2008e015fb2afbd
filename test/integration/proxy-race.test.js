// Two projects deploying proxied services to the same host at the same instant share its proxy: neither's route is lost.
import test from 'ava';
import {
  commitOnBranch,
  execOutput,
  loadWorld,
  makeRepo,
  NO_CI,
  pipeline,
  resetHosts,
  worldConfig,
  writeConfig,
} from '../helpers/world.js';

const PROXY = 'pipeline-proxy';
const PROJECTS = [
  { project: 'proxyrace-a', port: 8182 },
  { project: 'proxyrace-b', port: 8183 },
];
const ROUNDS = 4;

let world;
let repo;
let env;
let configs;

const app = (release) => `export function handle(request, response) {
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ status: 'ok', release: '${release}' }));
}
`;

function raceConfig({ project, port }) {
  const base = worldConfig(world);
  return {
    ...base,
    project,
    image: `${world.registry}/proxyrace/shop`,
    proxy: { image: world.caddyImage, drainTimeout: '5s' },
    environments: { race: { hosts: { web: [world.hosts[1]] } } },
    services: {
      web: {
        roles: ['web'],
        command: ['node', 'server.js'],
        ports: [`${port}:8000`],
        proxy: true,
        healthcheck: { http: { path: '/health', port: 8000 }, interval: '500ms', retries: 10 },
        stopGracePeriod: '5s',
      },
    },
  };
}

/** The host of the race (h2) without a proxy, its lock, volume and network, or either project's containers. */
async function resetRaceHost() {
  for (const { project } of PROJECTS) await resetHosts(world, project);
  const engine = world.engines[1];
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
}

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
  // Both releases built and pushed once (no host touched): develop answers v1, feature/v2 answers v2.
  await commitOnBranch(repo, 'develop', 'develop', { 'app.js': app('v1') });
  await commitOnBranch(repo, 'feature/v2', 'develop', { 'app.js': app('v2') });
  for (const branch of ['develop', 'feature/v2']) {
    await repo.git('checkout', '-q', branch);
    const built = await run(['run', '--skip', 'deploy'], configs[0]);
    if (built.code !== 0) throw new Error(`building ${branch} failed:\n${built.output}`);
  }
});

test.after.always(async () => {
  if (world) await resetRaceHost();
  await repo?.cleanup();
});

test.serial('two projects deployed to the same host at the same instant: both routes stay, each serves its own release', async (t) => {
  const tags = ['develop', 'feature/v2'];
  const served = { develop: 'v1', 'feature/v2': 'v2' };
  // The first round also races the proxy's start (no proxy on the host) and its restart to listen on the second port.
  for (let round = 0; round < ROUNDS; round++) {
    const wanted = PROJECTS.map((_, i) => tags[(round + i) % 2]);
    const results = await Promise.all(configs.map((file, i) => run(['deploy', 'race', '--docker-tag', wanted[i]], file)));
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
