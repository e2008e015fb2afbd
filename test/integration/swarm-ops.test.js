// Day two on a Docker Swarm formed from world hosts: the container options reach the tasks' containers, a named
// volume keeps its data across releases, and an option change rolls the service out.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import test from 'ava';
import {
  commitOnBranch,
  exampleEnv,
  execOutput,
  loadWorld,
  makeRepo,
  pipeline,
  resetHosts,
  worldCommand,
  worldConfig,
  writeConfig,
} from '../helpers/world.js';
import { testHostNumbers } from '../helpers/world-env.js';

// Two nodes with the web role: web runs a task on each.
const [MANAGER, NODE] = testHostNumbers([3, 4]);
const SWARM = [MANAGER, NODE].map((n) => `h${n}`);
const PROJECT = 'swarmops';
const HOST_DIR = '/tmp/pipeline-test-swarm-ops';

let world;
let repo;
let env;
let config;

const OPTIONS = {
  volumes: ['home:/home/node', `${HOST_DIR}:/etc/shopping:ro`],
  memory: '256m',
  cpus: 0.5,
  user: 'node',
  labels: { team: 'shopping' },
  logging: { driver: 'json-file', options: { 'max-size': '1m', 'max-file': '2' } },
  extraHosts: ['db.internal:10.213.0.99'],
};

/** web on both nodes in host mode (this kernel has no IPVS for the routing mesh), with every container option. */
function swarmConfig(web = {}, extra = {}) {
  const base = worldConfig(world);
  return {
    ...base,
    project: PROJECT,
    environments: {
      cluster: {
        on: { branches: ['release/*'] },
        defaultTag: 'master',
        swarm: { manager: `${world.sshUser}@${world.hosts[MANAGER - 1]}:22`, publish: 'host' },
        env: { APP_ENV: 'cluster' },
      },
    },
    services: {
      web: {
        roles: ['web'],
        replicas: 2,
        // Each start of a task leaves a line in the node's named volume.
        command: ['sh', '-c', 'date >> /home/node/starts; exec node server.js'],
        ports: ['8090:8000'],
        stopGracePeriod: '2s',
        healthcheck: { http: { path: '/health', port: 8000 }, interval: '500ms', timeout: '1s', retries: 10 },
        ...OPTIONS,
        ...web,
      },
    },
    ...extra,
  };
}

test.before(async () => {
  world = await loadWorld();
  env = exampleEnv(world);
  repo = await makeRepo();
  await resetHosts(world);
  await worldCommand('swarm-down', ...SWARM);
  await worldCommand('swarm-up', `h${MANAGER}=web`, `h${NODE}=web`);
  // The hosts of the test world share the runner's filesystem: a host path here is one on every node.
  await mkdir(HOST_DIR, { recursive: true });
  await writeFile(`${HOST_DIR}/shopping.conf`, 'currency=EUR\n');
  for (const n of [MANAGER, NODE]) {
    await world.engines[n - 1]
      .getVolume(`${PROJECT}_home`)
      .remove({ force: true })
      .catch(() => undefined);
  }
  config = await writeConfig(repo, swarmConfig(), 'swarm-ops.json');
});

test.after.always(async () => {
  await worldCommand('swarm-down', ...SWARM).catch(() => undefined);
  for (const n of [MANAGER, NODE]) {
    await world?.engines[n - 1]
      .getVolume(`${PROJECT}_home`)
      .remove({ force: true })
      .catch(() => undefined);
  }
  await rm(HOST_DIR, { recursive: true, force: true });
  await repo?.cleanup();
});

const runIn = (args, file = config) => pipeline(['--config', file, ...args], { cwd: repo.work, env });
const manager = () => world.engines[MANAGER - 1];
const engineOf = (nodeId, ids) => world.engines[ids[nodeId] - 1];

async function nodeNumbers() {
  const ids = {};
  for (const n of [MANAGER, NODE]) ids[(await world.engines[n - 1].info()).Swarm.NodeID] = n;
  return ids;
}

/** web's running tasks, each with its container as the node's engine inspects it. */
async function webContainers() {
  const ids = await nodeNumbers();
  const tasks = (await manager().listTasks({ filters: { service: [`${PROJECT}_web`], 'desired-state': ['running'] } })).filter(
    (task) => task.Status.State === 'running',
  );
  return Promise.all(
    tasks.map(async (task) => {
      const engine = engineOf(task.NodeID, ids);
      const id = task.Status.ContainerStatus.ContainerID;
      return { task, engine, id, node: ids[task.NodeID], info: await engine.getContainer(id).inspect() };
    }),
  );
}

test.serial('every container option reaches the tasks of a swarm service and works in them', async (t) => {
  await commitOnBranch(repo, 'release/1', 'develop', { 'RELEASE.txt': 'one\n' });
  const result = await runIn(['run']);
  t.is(result.code, 0, result.output);

  const spec = (await manager().getService(`${PROJECT}_web`).inspect()).Spec.TaskTemplate;
  t.deepEqual(spec.Resources.Limits, { MemoryBytes: 256 * 1024 ** 2, NanoCPUs: 500_000_000 });
  t.deepEqual(spec.LogDriver, { Name: 'json-file', Options: { 'max-size': '1m', 'max-file': '2' } });
  t.is(spec.ContainerSpec.User, 'node');
  t.deepEqual(spec.ContainerSpec.Hosts, ['10.213.0.99 db.internal']);

  const containers = await webContainers();
  t.deepEqual(containers.map((c) => c.node).sort(), [MANAGER, NODE].sort(), 'a task on each node');
  for (const { info, engine, id, node } of containers) {
    const { HostConfig: host, Config: cfg } = info;
    t.is(host.Memory, 256 * 1024 ** 2);
    t.is(host.NanoCpus, 500_000_000);
    t.is(cfg.User, 'node');
    t.is(cfg.Labels.team, 'shopping');
    t.is(cfg.Labels['pipeline.project'], PROJECT);
    t.deepEqual(host.LogConfig, { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } });
    t.deepEqual(host.ExtraHosts, ['db.internal:10.213.0.99']);
    const mounts = Object.fromEntries(info.Mounts.map((m) => [m.Destination, m]));
    t.is(mounts['/home/node'].Type, 'volume');
    t.is(mounts['/home/node'].Name, `${PROJECT}_home`);
    t.is(mounts['/etc/shopping'].Type, 'bind');
    t.false(mounts['/etc/shopping'].RW, 'a :ro host path is read-only');

    t.is((await execOutput(engine, id, ['id', '-un'])).output.trim(), 'node');
    t.regex((await execOutput(engine, id, ['cat', '/etc/hosts'])).output, /10\.213\.0\.99\s+db\.internal/);
    t.is((await execOutput(engine, id, ['cat', '/etc/shopping/shopping.conf'])).output, 'currency=EUR\n');
    t.not((await execOutput(engine, id, ['touch', '/etc/shopping/new'])).code, 0, 'the host path is mounted read-only');
    const volume = await engine.getVolume(`${PROJECT}_home`).inspect();
    t.is(volume.Labels['pipeline.project'], PROJECT, `the volume on h${node} is labelled as a fleet host labels it`);
  }
});

test.serial("a named volume's data survives a redeploy of a new release", async (t) => {
  await commitOnBranch(repo, 'release/2', 'release/1', { 'RELEASE.txt': 'two\n' });
  const result = await runIn(['run']);
  t.is(result.code, 0, result.output);
  const containers = await webContainers();
  t.is(containers.length, 2);
  for (const { info, engine, id } of containers) {
    t.regex(info.Config.Image, /:release2@sha256:/);
    const starts = (await execOutput(engine, id, ['cat', '/home/node/starts'])).output.trim().split('\n');
    t.true(starts.length >= 2, `the start of release1's task is still in the volume: ${starts.join(' | ')}`);
  }
});

test.serial('a change of an option alone rolls the service out; the same config leaves its tasks running', async (t) => {
  // A deploy by tag knows no commit, so its labels differ from the run's once; the second deploy of it changes nothing.
  const first = await runIn(['deploy', 'cluster', '--docker-tag', 'release/2']);
  t.is(first.code, 0, first.output);
  const before = (await webContainers()).map((c) => c.task.ID).sort();
  const same = await runIn(['deploy', 'cluster', '--docker-tag', 'release/2']);
  t.is(same.code, 0, same.output);
  t.regex(same.output, /web +left running/);
  t.deepEqual((await webContainers()).map((c) => c.task.ID).sort(), before, 'nothing its tasks run changed');

  const changed = await writeConfig(repo, swarmConfig({ memory: '128m', extraHosts: [] }), 'swarm-ops-changed.json');
  const result = await runIn(['deploy', 'cluster', '--docker-tag', 'release/2'], changed);
  t.is(result.code, 0, result.output);
  const after = await webContainers();
  t.is(after.length, 2);
  t.true(
    after.every((c) => !before.includes(c.task.ID)),
    'every task was replaced',
  );
  for (const { info } of after) {
    t.is(info.HostConfig.Memory, 128 * 1024 ** 2);
    t.deepEqual(info.HostConfig.ExtraHosts ?? [], []);
  }
});
