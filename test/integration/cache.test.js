// The build cache from the registry, and the work done while the tests run: on the runner's real engine, with the
// world's registry and hosts. Project `cache-test`, repositories `cache-test/*` of this run only.

import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import Docker from 'dockerode';
import {
  engineEvents,
  makeAppRepo,
  manifestStatus,
  plainEnv,
  removeProjectContainers,
  removeRepositoryImages,
} from '../helpers/image-app.js';
import { hostHome, loadWorld, pipeline, registryTags } from '../helpers/world.js';
import { readWorldEnv, testHostNumbers } from '../helpers/world-env.js';

const PROJECT = 'cache-test';
/** This run's own: nothing another run pushed is in it, and its slow layer exists nowhere else. */
const RUN_ID = `r${Date.now().toString(36)}`;
const REPOSITORY = `${PROJECT}/${RUN_ID}`;
const SLOW_STEP = `RUN sleep 3 && echo ${RUN_ID} > /deps.txt`;
const [HOST] = testHostNumbers([4]);

const docker = new Docker();
let world;
let repo;
let image;
let hostEngine;
let BUSYBOX;

function config(extra = {}) {
  return {
    project: PROJECT,
    image,
    registry: { server: world.registry, username: world.username, password: world.password },
    build: { context: repo.work },
    test: { command: ['sh', '-c', 'test -f /deps.txt'] },
    ssh: { user: world.sshUser, identityFile: world.sshKey, knownHosts: world.knownHosts },
    environments: {
      // qa deploys develop; its defaultTag is what a feature branch's build starts from.
      qa: { on: { branches: ['develop'] }, defaultTag: 'develop', hosts: { app: [world.hosts[HOST - 1]] } },
    },
    services: { app: { roles: ['app'], command: ['sleep', '3600'], startPeriod: '500ms', stopGracePeriod: '1s' } },
    ...extra,
  };
}

async function writeConfig(name, value) {
  const file = join(repo.dir, name);
  await writeFile(file, JSON.stringify(value, null, 2));
  return file;
}

const cli = (args, file) => pipeline([...args, '--config', file, '--renderer', 'simple'], { cwd: repo.work, env: plainEnv() });

/** Whether the slow step ran (its command's output) or came from a cache ("Using cache" right after it). */
function slowStep(output) {
  const at = output.indexOf(SLOW_STEP);
  if (at === -1) return 'absent';
  return /^[^\n]*\n[^\n]*Using cache/.test(output.slice(at)) ? 'cached' : 'ran';
}

/** A fresh CI machine's engine: none of the app's images (their parent layers, the classic builder's cache, go with them), builder cache pruned. */
async function freshEngine(t) {
  t.is(await removeRepositoryImages(docker, image), 0, "the runner engine has none of the app's images");
  await docker.pruneBuilder();
}

test.before(async () => {
  world = await loadWorld();
  BUSYBOX = (await readWorldEnv()).vars.PIPELINE_WORLD_BUSYBOX_IMAGE;
  image = `${world.registry}/${REPOSITORY}`;
  hostEngine = world.engines[HOST - 1];
  await removeProjectContainers(hostEngine, PROJECT);
  repo = await makeAppRepo(
    {
      Dockerfile: `FROM ${BUSYBOX}\n${SLOW_STEP}\nCOPY app.txt /app.txt\nCMD ["cat", "/app.txt"]\n`,
      'app.txt': 'one\n',
    },
    { prefix: 'pipeline-cache-' },
  );
});

test.after.always(async () => {
  await removeRepositoryImages(docker, image).catch(() => undefined);
  await removeRepositoryImages(docker, `${world.registry}/${PROJECT}/empty-${RUN_ID}`).catch(() => undefined);
  await removeProjectContainers(hostEngine, PROJECT).catch(() => undefined);
  await repo?.cleanup();
});

test.serial("a new commit's build on an engine without the app's images takes its slow layer from the registry", async (t) => {
  const file = await writeConfig('pipeline.config.json', config());
  const first = await cli(['run', '--skip', 'deploy'], file);
  t.is(first.code, 0, first.output);
  t.regex(
    first.output,
    new RegExp(`cache: ${image.replaceAll('.', '\\.')}:develop is not in the registry`),
    'an empty repository is no error',
  );
  t.is(slowStep(first.output), 'ran');
  t.true((await registryTags(world, REPOSITORY)).includes('develop'));

  await freshEngine(t);
  await repo.commit({ 'app.txt': 'two\n' });
  const since = Date.now();
  const second = await cli(['run', '--skip', 'deploy'], file);
  t.is(second.code, 0, second.output);
  t.regex(second.output, new RegExp(`cache: pulling ${image.replaceAll('.', '\\.')}:develop`));
  t.is(slowStep(second.output), 'cached', 'the slow step is taken from the pulled image');
  t.regex(second.output, /build: \S+:develop \([0-9a-f]{12}; cache from develop;/, 'the build says which cache images it used');
  const pulls = await engineEvents(docker, since, Date.now(), { type: ['image'], event: ['pull'] });
  t.true(
    pulls.some((e) => e.Actor?.ID === `${image}:develop`),
    'the runner engine pulled the cache image',
  );
});

test.serial('a new feature branch takes its cache from what develop pushed', async (t) => {
  const file = await writeConfig('pipeline.config.json', config());
  await freshEngine(t);
  await repo.git('checkout', '-q', '-b', 'feature/y', 'develop');
  await repo.commit({ 'app.txt': 'feature\n' });
  const result = await cli(['run'], file);
  t.is(result.code, 0, result.output);
  t.regex(result.output, new RegExp(`cache: ${image.replaceAll('.', '\\.')}:featurey is not in the registry`));
  t.regex(result.output, new RegExp(`cache: pulling ${image.replaceAll('.', '\\.')}:develop`));
  t.is(slowStep(result.output), 'cached');
  t.regex(result.output, /build: \S+:featurey \([0-9a-f]{12}; cache from develop;/);
  t.true((await registryTags(world, REPOSITORY)).includes('featurey'));
  await repo.git('checkout', '-q', 'develop');
});

test.serial('a repository nobody pushed to is not an error: one line per cache image', async (t) => {
  const empty = `${world.registry}/${PROJECT}/empty-${RUN_ID}`;
  const file = await writeConfig('empty.config.json', config({ image: empty }));
  try {
    const result = await cli(['run', '--only', 'build'], file);
    t.is(result.code, 0, result.output);
    const said = result.output
      .split('\n')
      .filter((line) => line.includes('cache:') && !line.includes('cache: pulling'))
      .map((line) => line.replace(/^.*cache: /, ''));
    t.deepEqual(said, [`${empty}:develop is not in the registry`]);
    t.notRegex(result.output, /cache from/);
  } finally {
    // Its image shares the slow step's layer: gone, so that the next test's engine has none of it.
    await removeRepositoryImages(docker, empty);
  }
});

test.serial('build.cache: false pulls nothing, and the slow step runs', async (t) => {
  const file = await writeConfig('nocache.config.json', config({ build: { context: repo.work, cache: false } }));
  await freshEngine(t);
  await repo.commit({ 'app.txt': 'three\n' });
  const since = Date.now();
  const result = await cli(['run', '--only', 'build'], file);
  t.is(result.code, 0, result.output);
  t.notRegex(result.output, /cache:/);
  t.is(slowStep(result.output), 'ran');
  const pulls = await engineEvents(docker, since, Date.now(), { type: ['image'], event: ['pull'] });
  t.deepEqual(
    pulls.filter((e) => String(e.Actor?.ID).startsWith(image)),
    [],
    "no pull of the app's images",
  );
});

for (const [name, dockerfile, feature] of [
  ['RUN --mount', 'RUN --mount=type=cache,target=/cache true', 'RUN --mount'],
  ['# syntax=', 'RUN true', 'the parser directive "# syntax=docker/dockerfile:1"'],
]) {
  test.serial(`a Dockerfile that needs BuildKit (${name}) fails the build in one line, before anything is built or pulled`, async (t) => {
    const file = await writeConfig('buildkit.config.json', config({ build: { context: repo.work, dockerfile: 'Dockerfile.buildkit' } }));
    const syntax = name === '# syntax=' ? '# syntax=docker/dockerfile:1\n' : '';
    await repo.commit({ 'Dockerfile.buildkit': `${syntax}FROM ${BUSYBOX}\n${dockerfile}\n` });
    const result = await cli(['run', '--only', 'build'], file);
    t.is(result.code, 1, result.output);
    const line = `pipeline: Dockerfile.buildkit uses ${feature}, which needs BuildKit: this runner builds with the Engine API's classic builder`;
    t.deepEqual(
      result.stderr.split('\n').filter((l) => l.startsWith('pipeline: ')),
      [line],
    );
    t.notRegex(result.output, /cache: pulling|Step 1\//, 'nothing pulled or built');
  });
}

test.serial('a failing test, while the image uploads and the hosts pull it: no tag pushed, nothing deployed or left running', async (t) => {
  // The tests take long enough (5 s against well under a second for this small image) for the upload by digest and the
  // host's pull to run beside them, then fail.
  const file = await writeConfig('failing.config.json', config({ test: { command: ['sh', '-c', 'sleep 5; exit 1'] } }));
  await repo.commit({ 'app.txt': 'broken\n' });
  const sha = (await repo.git('rev-parse', 'HEAD')).stdout.trim();
  const tagsBefore = await registryTags(world, REPOSITORY);
  const developBefore = await registryDigest(world, REPOSITORY, 'develop');
  const result = await cli(['run'], file);
  t.is(result.code, 1, result.output);
  t.regex(result.output, /tests failed: sh -c sleep 5; exit 1 exited with code 1/);
  const uploaded = /uploaded (sha256:[0-9a-f]{64}), untagged/.exec(result.output);
  t.truthy(uploaded, 'the image was uploaded by digest while the tests ran');
  t.is(await manifestStatus(world, REPOSITORY, uploaded[1]), 200, 'the registry has it, by digest');
  t.regex(result.output, /pulled, untagged/, 'the host pulled it while the tests ran');
  t.deepEqual(await registryTags(world, REPOSITORY), tagsBefore, "no tag pushed, not the commit's either");
  t.false(tagsBefore.includes(sha));
  t.is(await registryDigest(world, REPOSITORY, 'develop'), developBefore, 'develop names what it named before');
  t.not(developBefore, uploaded[1]);
  t.deepEqual(
    await hostEngine.listContainers({ all: true, filters: { label: [`pipeline.project=${PROJECT}`] } }),
    [],
    'nothing deployed on the host',
  );
  t.false(existsSync(join(hostHome(HOST - 1), `.pipeline/locks/${PROJECT}-qa`)), 'no lock taken');
  t.deepEqual(
    await docker.listContainers({ all: true, filters: { label: [`pipeline.project=${PROJECT}`] } }),
    [],
    'no test container left on the runner',
  );
  const tagged = (await hostEngine.listImages({ filters: { reference: [image] } })).filter((i) => (i.RepoTags ?? []).length > 0);
  t.deepEqual(tagged, [], 'nothing tagged on the host');
});

test.serial('a passing run with the overlap: the push tags what was uploaded, the host runs that digest', async (t) => {
  const file = await writeConfig('pipeline.config.json', config());
  await repo.commit({ 'app.txt': 'fixed\n' });
  const sha = (await repo.git('rev-parse', 'HEAD')).stdout.trim();
  const result = await cli(['run'], file);
  t.is(result.code, 0, result.output);
  const pushed = /push: \S+:develop \((sha256:[0-9a-f]{64}); uploaded while the tests ran\)/.exec(result.output);
  t.truthy(pushed, 'the push put the uploaded manifest under the tags');
  t.is(await registryDigest(world, REPOSITORY, 'develop'), pushed[1]);
  t.is(await registryDigest(world, REPOSITORY, sha), pushed[1]);
  const app = await hostEngine.getContainer(`${PROJECT}-app`).inspect();
  t.is(app.Config.Labels['pipeline.digest'], pushed[1]);
  t.true(app.State.Running);
});

async function registryDigest(w, repository, reference) {
  const response = await fetch(`http://${w.registry}/v2/${repository}/manifests/${reference}`, {
    method: 'HEAD',
    headers: {
      authorization: `Basic ${Buffer.from(`${w.username}:${w.password}`).toString('base64')}`,
      accept: 'application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  return response.headers.get('docker-content-digest') ?? undefined;
}
