// Zero-downtime deploys: the host's proxy (Caddy) in front of a proxied web service, requests running throughout.
import test from 'ava';
import { rateOf } from '../helpers/load.js';
import { assertNoFailure, PROXY, proxiedApp, resetProxyHosts as resetHostsOfProxy, underLoad } from '../helpers/proxy-world.js';
import { commitOnBranch, loadWorld, makeRepo, NO_CI, pipeline, worldConfig, writeConfig } from '../helpers/world.js';

const PROJECT = 'proxytest';
const OTHER = 'proxyother';
const PORT = 8180;
const OTHER_PORT = 8181;

let world;
let repo;
let env;
let config;

function proxyConfig(project = PROJECT, port = PORT) {
  const [h1, h2, h3, h4, h5] = world.hosts;
  const base = worldConfig(world);
  return {
    ...base,
    project,
    image: `${world.registry}/proxytest/shop`,
    proxy: { image: world.caddyImage, drainTimeout: '10s' },
    rollout: { batch: 2 },
    environments: {
      one: { hosts: { web: [h1], worker: [h2] }, env: { APP_ENV: 'one' } },
      fleet: { hosts: { web: [h3, h4, h5] }, env: { APP_ENV: 'fleet' } },
    },
    services: {
      web: {
        roles: ['web'],
        command: ['node', 'server.js'],
        ports: [`${port}:8000`],
        proxy: true,
        healthcheck: { http: { path: '/health', port: 8000 }, interval: '500ms', retries: 8 },
        stopGracePeriod: '5s',
      },
      worker: { roles: ['worker'], command: ['node', 'worker.js'], stopGracePeriod: '5s' },
    },
  };
}

const resetProxyHosts = () => resetHostsOfProxy(world, [PROJECT, OTHER]);

const run = (args, file = config) => pipeline(['--config', file, ...args], { cwd: repo.work, env });
const url = (host, port = PORT, path = '/health') => `http://${host}:${port}${path}`;
const release = (result) => JSON.parse(result.body).release;
const proxyId = (index) =>
  world.engines[index]
    .getContainer(PROXY)
    .inspect()
    .then((info) => info.Id);
test.before(async () => {
  world = await loadWorld();
  await resetProxyHosts();
  repo = await makeRepo();
  env = { ...process.env, ...NO_CI };
  config = await writeConfig(repo, proxyConfig());
  await commitOnBranch(repo, 'develop', 'develop', { 'app.js': proxiedApp('v1') });
  const first = await run(['run', '--env', 'one']);
  if (first.code !== 0) throw new Error(`the first deploy failed:\n${first.output}`);
});

test.after.always(async () => {
  if (world) await resetProxyHosts();
  await repo?.cleanup();
});

test.serial('a new release: no request fails, the new release is served after, by the same proxy container', async (t) => {
  const proxyBefore = await proxyId(0);
  await commitOnBranch(repo, 'feature/v2', 'develop', { 'app.js': proxiedApp('v2') });
  const h1 = world.hosts[0];
  const {
    result,
    requests: [health, slow],
  } = await underLoad([url(h1), url(h1, PORT, '/slow')], () => run(['run', '--env', 'one']));
  t.is(result.code, 0, result.output);
  assertNoFailure(t, [health, slow], result);
  t.true(rateOf(health) >= 30, `${rateOf(health).toFixed(1)} requests/s`);
  t.is(release(health[0]), 'v1');
  t.is(release(health.at(-1)), 'v2', 'the new release is served');
  t.true(
    slow.some((r) => r.body === 'v1'),
    'slow requests to the old release were in flight and finished',
  );
  t.is(await proxyId(0), proxyBefore, 'the proxy container is the one the first deploy started');
  const proxy = await world.engines[0].getContainer(PROXY).inspect();
  t.is(proxy.HostConfig.Sysctls?.['net.ipv4.tcp_migrate_req'], '1', 'a configuration change resets no connection being accepted');
  t.regex(result.output, /web: the proxy serves :8180 from [0-9a-f]{12}/);
  t.notRegex(result.output, /proxy: (starting|restarting|replacing)/);
});

test.serial('a release that never becomes healthy is never switched to: no request fails, the old one serves, exit 1', async (t) => {
  await commitOnBranch(repo, 'feature/sick', 'develop', {
    'app.js': proxiedApp('v3', false),
    'test/app.test.js': "import { test } from 'node:test';\ntest('nothing', () => {});\n",
  });
  const {
    result,
    requests: [health],
  } = await underLoad([url(world.hosts[0])], () => run(['run', '--env', 'one']));
  t.is(result.code, 1, result.output);
  t.regex(result.stderr, /web: not healthy after 8 check\(s\): GET \/health answered 503; every host is back on its previous release/);
  assertNoFailure(t, [health], result);
  t.true(
    health.every((r) => release(r) === 'v2'),
    'only the old release answered',
  );
});

test.serial('a rollback switches back through the proxy with no failed request', async (t) => {
  const {
    result,
    requests: [health],
  } = await underLoad([url(world.hosts[0])], () => run(['rollback', 'one']));
  t.is(result.code, 0, result.output);
  assertNoFailure(t, [health], result);
  t.is(release(health[0]), 'v2');
  t.is(release(health.at(-1)), 'v1', 'the previous release is served again');
});

test.serial('a worker (no host port) is replaced start-first: the old one stops only after the new one is healthy', async (t) => {
  const engine = world.engines[1];
  const old = await engine.getContainer(`${PROJECT}-worker`).inspect();
  const result = await run(['deploy', 'one', '--docker-tag', 'feature/v2']);
  t.is(result.code, 0, result.output);
  const fresh = await engine.getContainer(`${PROJECT}-worker`).inspect();
  const previous = await engine.getContainer(old.Id).inspect();
  t.not(fresh.Id, old.Id);
  t.false(previous.State.Running, 'the old worker is stopped, kept for rollback');
  t.true(new Date(previous.State.FinishedAt) > new Date(fresh.State.StartedAt), 'the old worker ran until after the new one had started');
  const lines = result.output.split('\n');
  const healthy = lines.findIndex((line) => /worker: healthy/.test(line));
  const stopping = lines.findIndex((line) => /worker: stopping the previous proxytest-worker/.test(line));
  t.true(healthy >= 0 && stopping > healthy, `the new worker is healthy before the old one stops:\n${result.output}`);
});

test.serial('a batched rollout (rollout.batch 2) switches two hosts, then the third, with no failed request', async (t) => {
  const hosts = world.hosts.slice(2, 5);
  const first = await run(['deploy', 'fleet', '--docker-tag', 'develop']);
  t.is(first.code, 0, first.output);
  const { result, requests } = await underLoad(
    hosts.map((host) => url(host)),
    () => run(['deploy', 'fleet', '--docker-tag', 'feature/v2', '--json']),
    35,
  );
  t.is(result.code, 0, result.output);
  assertNoFailure(t, requests, result);
  for (const list of requests) t.is(release(list.at(-1)), 'v2');
  const events = result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
    .filter((e) => e.type === 'host' && e.phase.startsWith('switch'));
  const phaseOf = Object.fromEntries(events.filter((e) => e.status === 'success').map((e) => [e.host, e.phase]));
  t.deepEqual(phaseOf, {
    [`deploy@${hosts[0]}`]: 'switch 1/2',
    [`deploy@${hosts[1]}`]: 'switch 1/2',
    [`deploy@${hosts[2]}`]: 'switch 2/2',
  });
  const firstDone = Math.max(...events.filter((e) => e.phase === 'switch 1/2' && e.status === 'success').map((e) => Date.parse(e.time)));
  const secondStarted = Math.min(
    ...events.filter((e) => e.phase === 'switch 2/2' && e.status === 'started').map((e) => Date.parse(e.time)),
  );
  t.true(firstDone <= secondStarted, 'the second batch starts once the first is healthy');
});

test.serial("another project on the same host gets its own port; a deploy of one never drops the other's route", async (t) => {
  const other = await writeConfig(repo, proxyConfig(OTHER, OTHER_PORT), 'other.json');
  const added = await run(['deploy', 'one', '--docker-tag', 'develop'], other);
  t.is(added.code, 0, added.output);
  t.regex(added.output, /proxy: restarting pipeline-proxy to listen on :8180, :8181/, 'a new port restarts the proxy, and says so');
  const h1 = world.hosts[0];
  const { result, requests } = await underLoad([url(h1), url(h1, OTHER_PORT)], () => run(['deploy', 'one', '--docker-tag', 'feature/v2']));
  t.is(result.code, 0, result.output);
  assertNoFailure(t, requests, result);
  t.is(release(requests[1].at(-1)), 'v1', 'the other project still serves its release');
  t.is(release(requests[0].at(-1)), 'v2');
});

test.serial('status shows the proxy and the release it serves; plan shows the cutover', async (t) => {
  const status = await run(['status', 'one']);
  t.is(status.code, 0, status.output);
  t.regex(status.stdout, new RegExp(`web +featurev2 .*served by the proxy \\(${world.caddyImage.replaceAll('.', '\\.')}\\) on :8180`));
  const plan = await run(['plan', '--env', 'one', '--docker-tag', 'develop']);
  t.is(plan.code, 0, plan.output);
  t.regex(plan.stdout, /\(proxy\) +pipeline-proxy \(.*caddy:2\) on :8180, :8181: left running/);
  t.regex(
    plan.stdout,
    /web +replace featurev2 .*→ develop.*: start beside the old one, switch the proxy \(:8180\) once healthy, drain, stop the old one/,
  );
  t.regex(plan.stdout, /worker +replace featurev2 .*: start before the old one stops/);
});

test.serial('a proxy that is not running is a preflight error naming the host; nothing changes', async (t) => {
  const engine = world.engines[0];
  const before = (await engine.getContainer(`${PROJECT}-web`).inspect()).Id;
  await engine.getContainer(PROXY).stop({ t: 1 });
  try {
    const result = await run(['deploy', 'one', '--docker-tag', 'develop']);
    t.is(result.code, 1, result.output);
    t.regex(
      result.stderr,
      new RegExp(
        `preflight failed on 1 host\\(s\\): deploy@${world.hosts[0].replaceAll('.', '\\.')}: the proxy pipeline-proxy is not running`,
      ),
    );
    t.is((await engine.getContainer(`${PROJECT}-web`).inspect()).Id, before);
  } finally {
    await engine
      .getContainer(PROXY)
      .start()
      .catch(() => undefined);
  }
});
