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
  pipelineWatching,
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
const TOKEN = 'swarm-ops-token-6f1c9a';

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
        secrets: { API_TOKEN: 'SWARM_API_TOKEN' },
      },
    },
    services: {
      web: {
        roles: ['web'],
        replicas: 2,
        // Each start of a task leaves a line in the node's named volume; it says (wrongly) its token, and ticks.
        command: [
          'sh',
          '-c',
          'date >> /home/node/starts; echo "web up with token $API_TOKEN" >&2; (while sleep 1; do echo tick; done) & exec node server.js',
        ],
        ports: ['8090:8000'],
        stopGracePeriod: '2s',
        // Swarm watches each new task for the check's whole failure window (here 8 × 1 s + 1 s) before the next.
        healthcheck: { http: { path: '/health', port: 8000 }, interval: '500ms', timeout: '500ms', retries: 8 },
        ...OPTIONS,
        ...web,
      },
    },
    ...extra,
  };
}

test.before(async () => {
  world = await loadWorld();
  env = exampleEnv(world, { SWARM_API_TOKEN: TOKEN });
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

/** One-off containers of the project left on the manager (a release command's are removed whatever happens). */
const oneOffs = () => manager().listContainers({ all: true, filters: { label: [`pipeline.project=${PROJECT}`, 'pipeline.one-off'] } });
const webImage = async () => (await manager().getService(`${PROJECT}_web`).inspect()).Spec.TaskTemplate.ContainerSpec.Image;
const withRelease = (release) => writeConfig(repo, swarmConfig({}, { release }), `swarm-ops-release-${Date.now()}.json`);

test.serial('the release command runs once on the manager, in a one-off container of the new release, before the update', async (t) => {
  const file = await withRelease({
    service: 'web',
    command: [
      'sh',
      '-c',
      'echo "migrating $APP_ENV as $(id -un) with $(cat /etc/shopping/shopping.conf)"; echo "$RELEASE" >> /home/node/releases',
    ],
    timeout: '1m',
  });
  const plan = await runIn(['plan', '--env', 'cluster', '--docker-tag', 'release/1'], file);
  t.is(plan.code, 0, plan.output);
  t.regex(
    plan.stdout,
    new RegExp(
      `^release +sh -c .* on ${world.sshUser}@${world.hosts[MANAGER - 1].replaceAll('.', '\\.')} \\(the swarm manager\\), as web, before the switch$`,
      'm',
    ),
  );

  const result = await runIn(['deploy', 'cluster', '--docker-tag', 'release/1'], file);
  t.is(result.code, 0, result.output);
  t.regex(
    result.output,
    /migrating cluster as node with currency=EUR/,
    "its output is streamed, and it runs with web's env, user and mounts",
  );
  const ran = result.output.indexOf('migrating cluster');
  t.true(ran >= 0 && ran < result.output.search(/web: updating/), 'before Swarm is given the new spec');
  t.regex(await webImage(), /:release1@sha256:/);
  t.deepEqual(await oneOffs(), [], 'its container is removed');
  // It ran on the manager, with web's named volume there.
  const id = (await webContainers()).find((c) => c.node === MANAGER).id;
  t.regex((await execOutput(manager(), id, ['cat', '/home/node/releases'])).output, /\S/);
});

test.serial(
  'a release command that fails, or outlasts its timeout, fails the deploy with its last lines and nothing is rolled out',
  async (t) => {
    const before = await webImage();
    const failing = await withRelease({ service: 'web', command: ['sh', '-c', 'echo "broken migration"; exit 3'], timeout: '1m' });
    const failed = await runIn(['deploy', 'cluster', '--docker-tag', 'release/2'], failing);
    t.is(failed.code, 1, failed.output);
    t.regex(
      failed.stderr,
      /release failed on 1 host\(s\): .*release command sh -c .* exited with code 3: .*broken migration.*; nothing was switched/,
    );
    t.is(await webImage(), before, 'web was not updated');
    t.deepEqual(await oneOffs(), []);

    const slow = await withRelease({ service: 'web', command: ['sh', '-c', 'echo waiting for the database; sleep 300'], timeout: '2s' });
    const timedOut = await runIn(['deploy', 'cluster', '--docker-tag', 'release/2'], slow);
    t.is(timedOut.code, 1, timedOut.output);
    t.regex(timedOut.stderr, /timed out after 2s: .*waiting for the database/);
    t.is(await webImage(), before);
    t.deepEqual(await oneOffs(), [], 'the container is removed after the timeout');
  },
);

test.serial('SIGTERM while the release command runs: its container on the manager is removed, nothing rolled out, exit 143', async (t) => {
  const before = await webImage();
  const slow = await withRelease({ service: 'web', command: ['sh', '-c', 'echo waiting for the database; sleep 300'], timeout: '5m' });
  let signalled = false;
  const result = await pipelineWatching(
    ['--config', slow, 'deploy', 'cluster', '--docker-tag', 'release/2'],
    { cwd: repo.work, env },
    (line, child) => {
      if (!signalled && line.includes('waiting for the database')) {
        signalled = true;
        child.kill('SIGTERM');
      }
    },
  );
  t.true(signalled, result.output);
  t.is(result.code, 143, result.output);
  t.is(await webImage(), before);
  t.deepEqual(await oneOffs(), [], 'the container is removed after the signal');
});

/** The name the pipeline gives a node: its hostname, with its address when hostnames repeat. */
async function nodeNames() {
  const hostnames = {};
  for (const n of [MANAGER, NODE]) hostnames[n] = (await world.engines[n - 1].info()).Name;
  const repeated = hostnames[MANAGER] === hostnames[NODE];
  return Object.fromEntries([MANAGER, NODE].map((n) => [n, repeated ? `${hostnames[n]} (${world.hosts[n - 1]})` : hostnames[n]]));
}
const literal = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const lines = (text) => text.split('\n').filter(Boolean);

test.serial('logs of a swarm service: the lines of every task, each named by its node and task, secrets masked', async (t) => {
  const names = await nodeNames();
  const result = await runIn(['logs', 'cluster', 'web', '--timestamps']);
  t.is(result.code, 0, result.output);
  t.false(result.output.includes(TOKEN), 'the secret is masked');
  for (const n of [MANAGER, NODE]) {
    t.regex(
      result.stderr,
      new RegExp(`^${literal(names[n])} web\\.[12] +\\| \\S+Z web up with token \\*\\*\\*$`, 'm'),
      `a task on h${n}; stderr lines stay on stderr`,
    );
    t.regex(result.stdout, new RegExp(`^${literal(names[n])} web\\.[12] +\\| \\S+Z tick$`, 'm'));
  }
  const future = await runIn(['logs', 'cluster', 'web', '--since', '2099-01-01T00:00:00Z']);
  t.is(future.code, 0, future.output);
  t.is(future.output, '');
  const one = await runIn(['logs', 'cluster', 'web', '--since', '1h', '--tail', '2', '--host', world.hosts[NODE - 1]]);
  t.is(one.code, 0, one.output);
  t.true(lines(one.output).length > 0, one.output);
  t.true(
    lines(one.output).every((line) => line.startsWith(`${names[NODE]} web.`)),
    `--host keeps the tasks of one node:\n${one.output}`,
  );
});

test.serial('logs --follow prints the lines of every task as they come, until Ctrl-C', async (t) => {
  const names = await nodeNames();
  const seen = new Set();
  const result = await pipelineWatching(
    ['--config', config, 'logs', 'cluster', 'web', '--follow', '--tail', '0'],
    { cwd: repo.work, env },
    (line, child) => {
      for (const n of [MANAGER, NODE]) if (line.startsWith(`${names[n]} web.`) && line.endsWith('| tick')) seen.add(n);
      if (seen.size === 2) child.kill('SIGINT');
    },
  );
  t.is(seen.size, 2, result.output);
  t.is(result.code, 130);
});

test.serial('exec runs in the container of every running task, on its node, each output line named by its task', async (t) => {
  const names = await nodeNames();
  const containers = await webContainers();
  const hostnames = Object.fromEntries(containers.map((c) => [c.node, c.info.Config.Hostname]));
  const result = await runIn(['exec', 'cluster', 'web', '--', 'sh', '-c', 'echo "in $(hostname) as $(id -un) in $APP_ENV"']);
  t.is(result.code, 0, result.output);
  t.deepEqual(
    lines(result.stdout)
      .map((line) => line.replace(/web\.\d/, 'web.N').replace(/ +\| /, ' | '))
      .sort(),
    [MANAGER, NODE].map((n) => `${names[n]} web.N | in ${hostnames[n]} as node in cluster`).sort(),
  );
  const one = await runIn(['exec', 'cluster', 'web', '--host', world.hosts[NODE - 1], '--', 'hostname']);
  t.is(one.code, 0, one.output);
  t.deepEqual(
    lines(one.stdout).map((line) => line.split(' | ')[1]),
    [hostnames[NODE]],
    '--host: the task on that node only',
  );
  const nowhere = await runIn(['exec', 'cluster', 'web', '--host', '10.213.0.250', '--', 'true']);
  t.is(nowhere.code, 1, nowhere.output);
  t.regex(nowhere.stderr, /10\.213\.0\.250 is no node of the swarm; its tasks run on /);
});

test.serial('exec fails when the command fails in any task, naming the task and its exit code; --new runs a one-off', async (t) => {
  const names = await nodeNames();
  const managerHostname = (await webContainers()).find((c) => c.node === MANAGER).info.Config.Hostname;
  const result = await runIn(['exec', 'cluster', 'web', '--', 'sh', '-c', `test "$(hostname)" != ${managerHostname} || exit 4`]);
  t.is(result.code, 1, result.output);
  t.regex(result.stderr, new RegExp(`failed in 1 of 2 task\\(s\\): ${literal(names[MANAGER])} web\\.\\d: exited with code 4`));

  const fresh = await runIn([
    'exec',
    'cluster',
    'web',
    '--new',
    '--',
    'sh',
    '-c',
    'echo "one-off of $RELEASE as $(id -un), token $API_TOKEN"',
  ]);
  t.is(fresh.code, 0, fresh.output);
  t.regex(fresh.stdout, /one-off of \S+ as node, token \*\*\*/);
  t.deepEqual(await oneOffs(), [], 'the one-off container is removed');
});
