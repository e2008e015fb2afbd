// The same configuration deployed to a Docker Swarm formed from world hosts: services, placement by role,
// rolling updates gated by health and rolled back by Swarm, rollback, status, and no credentials on nodes.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import test from 'ava';
import {
  commitOnBranch,
  exampleEnv,
  hostHome,
  loadWorld,
  makeRepo,
  pipeline,
  resetHosts,
  worldCommand,
  worldConfig,
  writeConfig,
} from '../helpers/world.js';
import { testHostNumbers } from '../helpers/world-env.js';

// The manager and a second node run web, the third runs worker; logstash runs on all three.
const [MANAGER, WEB, WORKER] = testHostNumbers([3, 4, 5]);
const SWARM = [MANAGER, WEB, WORKER].map((n) => `h${n}`);
const REPOSITORY = 'allume/shopping-tool';

let world;
let repo;
let env;
let config;
let manager;
const nodeIds = {};

/** The example's services, deployed to a swarm in host mode (this kernel has no IPVS for the routing mesh). */
function swarmConfig(overrides = {}) {
  const base = worldConfig(world);
  return {
    ...base,
    environments: {
      cluster: {
        on: { branches: ['release/*'] },
        defaultTag: 'master',
        swarm: { manager: `${world.sshUser}@${world.hosts[MANAGER - 1]}:22`, publish: 'host', ...overrides.swarm },
        env: { APP_ENV: 'cluster' },
      },
    },
    services: {
      web: {
        roles: ['web'],
        replicas: 2,
        command: ['node', 'server.js'],
        ports: [`${overrides.port ?? 8080}:8000`],
        stopGracePeriod: '2s',
        healthcheck: { http: { path: '/health', port: 8000 }, interval: '500ms', timeout: '1s', retries: 5 },
      },
      worker: { roles: ['worker'], replicas: 3, command: ['node', 'worker.js'], env: { QUEUE: 'default' }, stopGracePeriod: '2s' },
      logstash: { roles: ['web', 'worker'], image: world.logstashImage, redeploy: false },
    },
    ...(overrides.project ? { project: overrides.project } : {}),
  };
}

test.before(async () => {
  world = await loadWorld();
  env = exampleEnv(world);
  repo = await makeRepo();
  await resetHosts(world);
  await worldCommand('swarm-down', ...SWARM);
  await worldCommand('swarm-up', `h${MANAGER}=web`, `h${WEB}=web`, `h${WORKER}=worker`);
  manager = world.engines[MANAGER - 1];
  for (const n of [MANAGER, WEB, WORKER]) nodeIds[n] = (await world.engines[n - 1].info()).Swarm.NodeID;
  config = await writeConfig(repo, swarmConfig());
});

test.after.always(async () => {
  await worldCommand('swarm-down', ...SWARM).catch(() => undefined);
  await repo?.cleanup();
});

const runIn = (args, file = config) => pipeline(['--config', file, ...args], { cwd: repo.work, env });
const service = async (name) => manager.getService(`shopping-tool_${name}`).inspect();
const running = async (name) =>
  (await manager.listTasks({ filters: { service: [`shopping-tool_${name}`], 'desired-state': ['running'] } })).filter(
    (task) => task.Status.State === 'running',
  );
const image = (svc) => svc.Spec.TaskTemplate.ContainerSpec.Image;

async function registryDigest(tag) {
  const response = await fetch(`http://${world.registry}/v2/${REPOSITORY}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      authorization: `Basic ${Buffer.from(`${world.username}:${world.password}`).toString('base64')}`,
      accept: 'application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  return response.headers.get('docker-content-digest');
}

const pinned = async (tag) => `${world.registry}/${REPOSITORY}:${tag}@${await registryDigest(tag)}`;

test.serial('the first deploy creates the services: digest-pinned image, replicas, placement by role, env and labels', async (t) => {
  await commitOnBranch(repo, 'release/1', 'develop', { 'RELEASE.txt': 'one\n' });
  const result = await runIn(['run']);
  t.is(result.code, 0, result.output);
  t.false(result.output.includes(world.password), 'the registry password never appears in the output');
  t.regex(result.output, /resolve: release1 → cluster/);
  t.regex(result.output, /web\.[12] on .*: running release1/, 'a line per task as it changes');

  const web = await service('web');
  t.is(image(web), await pinned('release1'));
  t.is(web.Spec.Mode.Replicated.Replicas, 2);
  t.is(web.Spec.Labels['com.docker.stack.namespace'], 'shopping-tool');
  t.is(web.Spec.Labels['pipeline.tag'], 'release1');
  t.is(web.Spec.Labels['pipeline.commit'], (await repo.git('rev-parse', 'HEAD')).stdout.trim());
  t.is(web.Spec.UpdateConfig.Parallelism, 1);
  t.is(web.Spec.UpdateConfig.FailureAction, 'rollback');
  t.is(web.Spec.UpdateConfig.Order, 'stop-first', 'a host-mode port is in the way of start-first');
  t.true(web.Spec.TaskTemplate.ContainerSpec.Env.includes('APP_ENV=cluster'));
  const worker = await service('worker');
  t.is(worker.Spec.UpdateConfig.Order, 'start-first');
  t.true(worker.Spec.TaskTemplate.ContainerSpec.Env.includes('QUEUE=default'));

  const webTasks = await running('web');
  t.is(webTasks.length, 2);
  t.deepEqual(
    webTasks.map((task) => task.NodeID).sort(),
    [nodeIds[MANAGER], nodeIds[WEB]].sort(),
    'web tasks only on web nodes, one on each',
  );
  const workerTasks = await running('worker');
  t.is(workerTasks.length, 3);
  t.true(
    workerTasks.every((task) => task.NodeID === nodeIds[WORKER]),
    'worker tasks only on the worker node',
  );
  const logstash = await running('logstash');
  t.deepEqual(logstash.map((task) => task.NodeID).sort(), Object.values(nodeIds).sort(), 'logstash once per node');
  t.truthy((await service('logstash')).Spec.Mode.Global);
  for (const task of logstash) {
    // Each node's own engine runs its task, under the cgroup parent world.sh gives that host's dockerd.
    const n = Object.keys(nodeIds).find((k) => nodeIds[k] === task.NodeID);
    const container = await world.engines[n - 1].getContainer(task.Status.ContainerStatus.ContainerID).inspect();
    t.regex(await readFile(`/proc/${container.State.Pid}/cgroup`, 'utf8'), new RegExp(`/pipeline-world/h${n}/${container.Id}`));
  }

  for (const n of [MANAGER, WEB]) {
    const health = await fetch(`http://${world.hosts[n - 1]}:8080/health`);
    t.is(health.status, 200);
    t.is((await health.json()).environment, 'cluster');
  }
  t.true(result.stdout.includes(`http://${world.hosts[MANAGER - 1]}:8080/health`), 'the run ends with the addresses of web');
});

test.serial("a second deploy rolls web and worker out and leaves logstash's tasks alone", async (t) => {
  const logstashBefore = (await running('logstash')).map((task) => task.ID).sort();
  const webBefore = (await running('web')).map((task) => task.ID);
  await commitOnBranch(repo, 'release/2', 'release/1', { 'RELEASE.txt': 'two\n' });
  const result = await runIn(['run']);
  t.is(result.code, 0, result.output);
  t.regex(result.output, /logstash: running, left alone/);

  t.is(image(await service('web')), await pinned('release2'));
  t.is(image(await service('worker')), await pinned('release2'));
  const webAfter = await running('web');
  t.is(webAfter.length, 2);
  t.true(webAfter.every((task) => !webBefore.includes(task.ID) && task.Spec.ContainerSpec.Image === webAfter[0].Spec.ContainerSpec.Image));
  t.deepEqual((await running('logstash')).map((task) => task.ID).sort(), logstashBefore, 'the same logstash tasks');
  t.is(JSON.parse((await service('web')).Spec.Labels['pipeline.history'])[0].tag, 'release1', 'the release before is remembered');
});

test.serial('a release that never becomes healthy is rolled back by Swarm, and the run exits 1 naming it', async (t) => {
  // Listens on another port than the health check's: its tasks never become healthy.
  await commitOnBranch(repo, 'release/bad', 'release/2', {
    'server.js': "import { createServer } from 'node:http';\nimport { handle } from './app.js';\ncreateServer(handle).listen(9000);\n",
  });
  const result = await runIn(['run']);
  t.is(result.code, 1, result.output);
  t.regex(result.output, /web: Swarm rolled the update back: web\.\d on .*: failed releasebad: .*unhealthy container/);
  t.is(image(await service('web')), await pinned('release2'), 'web is back on the release before');
  t.is(image(await service('worker')), await pinned('release2'), 'worker, which had updated, is rolled back too');
  const tasks = await running('web');
  t.is(tasks.length, 2);
  t.true(tasks.every((task) => task.Spec.ContainerSpec.Image.includes(':release2@')));
  t.is((await fetch(`http://${world.hosts[WEB - 1]}:8080/health`)).status, 200);
});

test.serial('plan shows which services change, and status shows services, replicas, tags and nodes', async (t) => {
  const plan = await runIn(['plan', '--env', 'cluster', '--docker-tag', 'release/1']);
  t.is(plan.code, 0, plan.output);
  t.regex(plan.stdout, /\[swarm manager\]/);
  t.regex(plan.stdout, /web +replace release2 \(sha256:[0-9a-f]{12}\) → release1/);
  t.regex(plan.stdout, /logstash +left alone: 7\.17\.0/);

  const status = await runIn(['status', 'cluster']);
  t.is(status.code, 0, status.output);
  t.regex(status.stdout, /web +release2 +sha256:[0-9a-f]{12} +2\/2 running +on \S+/);
  t.regex(status.stdout, /worker +release2 +sha256:[0-9a-f]{12} +3\/3 running/);
  t.regex(status.stdout, /logstash +7\.17\.0 +sha256:[0-9a-f]{12} +3\/3 running/);
  const lock = await runIn(['lock', 'status', 'cluster']);
  t.is(lock.code, 0, lock.output);
  t.regex(lock.stdout, /: free/);
});

test.serial('rollback returns to the previous release, and --to to a kept release by its tag', async (t) => {
  const result = await runIn(['rollback', 'cluster']);
  t.is(result.code, 0, result.output);
  t.is(image(await service('web')), await pinned('release1'));
  t.is(image(await service('worker')), await pinned('release1'));
  t.true((await running('web')).every((task) => task.Spec.ContainerSpec.Image.includes(':release1@')));

  const forward = await runIn(['rollback', 'cluster', '--to', 'nonexistent']);
  t.is(forward.code, 1);
  t.regex(forward.output, /no kept release deployed with tag nonexistent/);
});

test.serial('pullWithoutAuth: each node pulls the release over SSH, and Swarm gets no credentials', async (t) => {
  const file = await writeConfig(repo, swarmConfig({ project: 'nocreds', port: 8081, swarm: { pullWithoutAuth: true } }), 'nocreds.json');
  await commitOnBranch(repo, 'release/3', 'release/2', { 'RELEASE.txt': 'three\n' });
  const result = await runIn(['run'], file);
  t.is(result.code, 0, result.output);
  const pulledOn = new Set(
    [...result.output.matchAll(/pulling \S+\/allume\/shopping-tool:release3@sha256:[0-9a-f]{64} on ([^:\n]+)/g)].map((m) => m[1]),
  );
  t.is(pulledOn.size, 3, "every node of the release's services pulled it");
  t.is(image(await manager.getService('nocreds_web').inspect()), await pinned('release3'));
  t.is(
    (await manager.listTasks({ filters: { service: ['nocreds_worker'], 'desired-state': ['running'] } })).filter(
      (task) => task.Status.State === 'running',
    ).length,
    3,
  );
  t.is((await fetch(`http://${world.hosts[WEB - 1]}:8081/health`)).status, 200);
});

test.serial("no registry credentials are written to any node's docker config", async (t) => {
  const credentials = Buffer.from(`${world.username}:${world.password}`).toString('base64');
  for (const file of [...[MANAGER, WEB, WORKER].map((n) => `${hostHome(n - 1)}/.docker/config.json`), '/root/.docker/config.json']) {
    const text = existsSync(file) ? await readFile(file, 'utf8') : '';
    t.false(text.includes(world.registry), `${file} names no registry`);
    t.false(text.includes(credentials) || text.includes(world.password), `${file} holds no credentials`);
  }
});
