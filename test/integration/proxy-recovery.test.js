// A proxied deploy killed with SIGKILL after the proxy switched: the site keeps being served, and the next deploy
// and a rollback converge with no failed request.
import test from 'ava';
import { failures, requestLoop } from '../helpers/load.js';
import { assertNoFailure, proxiedApp, resetProxyHosts, underLoad } from '../helpers/proxy-world.js';
import { commitOnBranch, loadWorld, makeRepo, NO_CI, pipeline, pipelineWatching, worldConfig, writeConfig } from '../helpers/world.js';

const PROJECT = 'proxykill';
const PORT = 8185;

let world;
let repo;
let env;
let config;

const address = () => `http://${world.hosts[0]}:${PORT}/health`;
const run = (args) => pipeline(['--config', config, ...args], { cwd: repo.work, env });
const served = async () => {
  const response = await fetch(address());
  return (await response.json()).release;
};
const webContainers = async () =>
  (await world.engines[0].listContainers({ all: true })).filter(
    (c) => c.Labels['pipeline.project'] === PROJECT && c.Labels['pipeline.service'] === 'web',
  );

/** A deploy of `tag` killed with SIGKILL as soon as the host's proxy serves the new container. */
async function deployKilledAfterSwitch(tag) {
  let killed = false;
  const dead = await pipelineWatching(
    ['--config', config, 'deploy', 'one', '--docker-tag', tag],
    { cwd: repo.work, env },
    (line, child) => {
      if (!killed && /web: the proxy serves/.test(line)) {
        killed = true;
        child.kill('SIGKILL');
      }
    },
  );
  return { killed, dead };
}

test.before(async () => {
  world = await loadWorld();
  await resetProxyHosts(world, [PROJECT]);
  repo = await makeRepo();
  env = { ...process.env, ...NO_CI };
  const base = worldConfig(world);
  config = await writeConfig(repo, {
    ...base,
    project: PROJECT,
    image: `${world.registry}/proxykill/shop`,
    keepReleases: 2,
    lockTtl: '10s',
    proxy: { image: world.caddyImage, drainTimeout: '10s' },
    environments: { one: { hosts: { web: [world.hosts[0]] }, env: { APP_ENV: 'one' } } },
    services: {
      web: {
        roles: ['web'],
        command: ['node', 'server.js'],
        ports: [`${PORT}:8000`],
        proxy: true,
        healthcheck: { http: { path: '/health', port: 8000 }, interval: '500ms', retries: 8 },
        stopGracePeriod: '5s',
      },
    },
  });
  for (const release of ['v1', 'v2', 'v3']) {
    await commitOnBranch(repo, release, 'develop', { 'app.js': proxiedApp(release) });
    const pushed = await run(['run', '--skip', 'deploy']);
    if (pushed.code !== 0) throw new Error(`building ${release} failed:\n${pushed.output}`);
  }
  const first = await run(['deploy', 'one', '--docker-tag', 'v1']);
  if (first.code !== 0) throw new Error(`the first deploy failed:\n${first.output}`);
});

test.after.always(async () => {
  if (world) await resetProxyHosts(world, [PROJECT]);
  await repo?.cleanup();
});

test.serial('killed after the proxy switched: still served; the next deploy converges with no failed request', async (t) => {
  const loop = requestLoop(address(), { rate: 40, maxMs: 60_000 });
  const { killed, dead } = await deployKilledAfterSwitch('v2');
  t.true(killed, 'the proxy was switched');
  t.is(dead.signal, 'SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const duringKill = await loop.stop();
  t.deepEqual(failures(duringKill), [], 'the kill drops no request');
  t.is(await served(), 'v2', 'the proxy serves what it was switched to');

  const { result, requests } = await underLoad([address()], () => run(['deploy', 'one', '--docker-tag', 'v3', '--lock-wait', '2m']));
  t.is(result.code, 0, result.output);
  assertNoFailure(t, requests, result);
  t.is(await served(), 'v3');
  const running = (await webContainers()).filter((c) => c.State === 'running');
  t.is(running.length, 1, 'one web container runs');
});

test.serial('a rollback after a killed deploy goes back to a verified release with no failed request', async (t) => {
  const { killed, dead } = await deployKilledAfterSwitch('v2');
  t.true(killed, dead.output);
  const { result, requests } = await underLoad([address()], () => run(['rollback', 'one', '--lock-wait', '2m']));
  t.is(result.code, 0, result.output);
  assertNoFailure(t, requests, result);
  t.is(await served(), 'v3', 'the last verified release, which the killed deploy was replacing');
});
