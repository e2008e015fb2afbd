// Container options with Compose's names (volumes, memory, cpus, user, labels, logging, extraHosts) reach the containers
// a deploy creates, its release command's container, and the containers a rollback brings back.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import test from 'ava';
import { execOutput, pipeline, projectContainers, setUpExample, worldConfig, writeConfig } from '../helpers/world.js';

let world;
let repo;
let env;
let config;
let sha;
const HOST_DIR = '/tmp/pipeline-test-container-options';

test.before(async () => {
  ({ world, repo, env } = await setUpExample());
  // The hosts of the test world share the runner's filesystem: a host path here is one on every host.
  await mkdir(HOST_DIR, { recursive: true });
  await writeFile(`${HOST_DIR}/shopping.conf`, 'currency=EUR\n');
  await Promise.all(
    world.engines.map((engine) =>
      engine
        .getVolume('shopping-tool_cache')
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
  const cfg = worldConfig(world);
  Object.assign(cfg.services.web, {
    volumes: ['cache:/home/node', `${HOST_DIR}:/etc/shopping:ro`],
    memory: '256m',
    cpus: 0.5,
    user: 'node',
    labels: { team: 'shopping', 'com.example.owner': 'web-team' },
    logging: { driver: 'json-file', options: { 'max-size': '1m', 'max-file': '2' } },
    extraHosts: ['db.internal:10.213.0.99'],
  });
  cfg.services.worker.labels = ['team=shopping'];
  // The release container runs as web does: it records what it is given in web's named volume (node's home, which
  // the new volume copies from the image, owner included).
  cfg.release = {
    service: 'web',
    command: [
      'sh',
      '-c',
      'id -un > /home/node/release; grep db.internal /etc/hosts >> /home/node/release; cat /etc/shopping/shopping.conf >> /home/node/release',
    ],
  };
  config = await writeConfig(repo, cfg, 'options.json');
  sha = (await repo.git('rev-parse', 'HEAD')).stdout.trim();
});

test.after.always(async () => {
  await rm(HOST_DIR, { recursive: true, force: true });
  await repo?.cleanup();
});

const runIn = (args) => pipeline(['--config', config, ...args], { cwd: repo.work, env });
const h1 = () => world.engines[0];

/** What `docker inspect` says of each option on web's container. */
function options(info) {
  const { HostConfig: host, Config: cfg } = info;
  return {
    binds: host.Binds,
    memory: host.Memory,
    nanoCpus: host.NanoCpus,
    user: cfg.User,
    team: cfg.Labels.team,
    owner: cfg.Labels['com.example.owner'],
    project: cfg.Labels['pipeline.project'],
    logging: host.LogConfig,
    extraHosts: host.ExtraHosts,
  };
}

const EXPECTED = {
  binds: ['shopping-tool_cache:/home/node', `${HOST_DIR}:/etc/shopping:ro`],
  memory: 256 * 1024 * 1024,
  nanoCpus: 500_000_000,
  user: 'node',
  team: 'shopping',
  owner: 'web-team',
  project: 'shopping-tool',
  logging: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } },
  extraHosts: ['db.internal:10.213.0.99'],
};

test.serial('every container option reaches the container, as docker inspect shows it, and works in it', async (t) => {
  const result = await runIn(['run']);
  t.is(result.code, 0, result.output);
  const web = await h1().getContainer('shopping-tool-web').inspect();
  t.deepEqual(options(web), EXPECTED);
  t.is(
    (await world.engines[1].getContainer('shopping-tool-worker').inspect()).Config.Labels.team,
    'shopping',
    "labels in Compose's list form",
  );

  t.is((await execOutput(h1(), 'shopping-tool-web', ['id', '-un'])).output.trim(), 'node');
  t.regex((await execOutput(h1(), 'shopping-tool-web', ['cat', '/etc/hosts'])).output, /10\.213\.0\.99\s+db\.internal/);
  t.is((await execOutput(h1(), 'shopping-tool-web', ['cat', '/etc/shopping/shopping.conf'])).output, 'currency=EUR\n');
  t.not((await execOutput(h1(), 'shopping-tool-web', ['touch', '/etc/shopping/new'])).code, 0, 'a :ro host path is read-only');
  const volume = await h1().getVolume('shopping-tool_cache').inspect();
  t.is(volume.Labels['pipeline.project'], 'shopping-tool');
});

test.serial("the release command's container runs with the service's options", async (t) => {
  const { output } = await execOutput(h1(), 'shopping-tool-web', ['cat', '/home/node/release']);
  t.is(output, 'node\n10.213.0.99\tdb.internal\ncurrency=EUR\n');
});

test.serial('a rollback brings back a container that has them all', async (t) => {
  const redeploy = await runIn(['deploy', 'qa', '--docker-tag', sha]);
  t.is(redeploy.code, 0, redeploy.output);
  t.is((await projectContainers(h1())).web.Labels['pipeline.tag'], sha);
  const rollback = await runIn(['rollback', 'qa']);
  t.is(rollback.code, 0, rollback.output);
  const web = await h1().getContainer('shopping-tool-web').inspect();
  t.is(web.Config.Labels['pipeline.tag'], 'develop');
  t.deepEqual(options(web), EXPECTED);
});

test.serial('an invalid option stops the run before anything starts, naming every field', async (t) => {
  const bad = worldConfig(world);
  Object.assign(bad.services.web, {
    volumes: ['./relative:/data'],
    memory: 'lots',
    cpus: 0,
    labels: { 'pipeline.tag': 'x' },
    extraHosts: ['db.internal'],
  });
  const result = await pipeline(['--config', await writeConfig(repo, bad, 'bad.json'), 'run'], { cwd: repo.work, env });
  t.is(result.code, 2);
  const message = result.stderr.trim();
  t.false(message.includes('\n'), 'one line');
  for (const field of [
    'services.web.volumes[0]',
    'services.web.memory',
    'services.web.cpus',
    'services.web.labels["pipeline.tag"]',
    'services.web.extraHosts[0]',
  ]) {
    t.true(message.includes(`${field}: `), `${field} in: ${message}`);
  }
});
