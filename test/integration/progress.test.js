// Progress of long transfers: a push and a host's pull of an image with a large layer report bytes, total and rate, in
// the line renderer and in --json, a bounded number of times. Project `progress-test`, repository `progress-test/app`.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import Docker from 'dockerode';
import { makeAppRepo, plainEnv, removeProjectContainers, removeRepositoryImages } from '../helpers/image-app.js';
import { loadWorld, pipeline } from '../helpers/world.js';
import { readWorldEnv, testHostNumbers } from '../helpers/world-env.js';

const PROJECT = 'progress-test';
const LAYER_MB = 48;
const [HOST] = testHostNumbers([5]);
/** A line per tenth of the total and one at the end, and one every 5 s of a slow transfer: far fewer than the engine's events. */
const MAX_LINES = 25;

const docker = new Docker();
let world;
let repo;
let image;
let hostEngine;
let BUSYBOX;
let file;

test.before(async () => {
  world = await loadWorld();
  BUSYBOX = (await readWorldEnv()).vars.PIPELINE_WORLD_BUSYBOX_IMAGE;
  image = `${world.registry}/${PROJECT}/app`;
  hostEngine = world.engines[HOST - 1];
  await removeProjectContainers(hostEngine, PROJECT);
  await removeRepositoryImages(hostEngine, image);
  repo = await makeAppRepo(
    {
      // A new seed makes a new random layer: every run pushes and pulls all of it.
      Dockerfile: `FROM ${BUSYBOX}\nCOPY seed.txt /seed.txt\nRUN head -c ${LAYER_MB}000000 /dev/urandom > /blob\nCMD ["sleep", "3600"]\n`,
      'seed.txt': '0\n',
    },
    { prefix: 'pipeline-progress-' },
  );
  file = join(repo.dir, 'pipeline.config.json');
  await writeFile(
    file,
    JSON.stringify(
      {
        project: PROJECT,
        image,
        registry: { server: world.registry, username: world.username, password: world.password },
        build: { context: repo.work },
        test: { command: ['true'] },
        ssh: { user: world.sshUser, identityFile: world.sshKey, knownHosts: world.knownHosts },
        environments: { qa: { on: { branches: ['develop'] }, defaultTag: 'develop', hosts: { app: [world.hosts[HOST - 1]] } } },
        services: { app: { roles: ['app'], command: ['sleep', '3600'], startPeriod: '500ms', stopGracePeriod: '1s' } },
      },
      null,
      2,
    ),
  );
});

test.after.always(async () => {
  await removeProjectContainers(hostEngine, PROJECT).catch(() => undefined);
  await removeRepositoryImages(hostEngine, image).catch(() => undefined);
  await removeRepositoryImages(docker, image).catch(() => undefined);
  await repo?.cleanup();
});

const SIZE = String.raw`[\d.]+ [kMGT]?B`;
const progress = (verb) => new RegExp(String.raw`${verb}: ${SIZE} of ${SIZE} \(\d+%\), ${SIZE}/s`);
const done = (verb) => new RegExp(`${verb}: ${SIZE} done, ${SIZE}/s`);

/** Lines of one kind of transfer: the push, or the host's pull (the build's pull of its cache image, when it makes one, is the build's). */
function checkLines(t, all, verb) {
  const lines = all.filter((line) => !line.includes('cache: '));
  const steps = lines.filter((line) => progress(verb).test(line));
  const ends = lines.filter((line) => done(verb).test(line));
  t.true(steps.length >= 1, `${verb}: bytes of the total and the rate are reported:\n${lines.join('\n')}`);
  t.true(steps.length + ends.length <= MAX_LINES, `${verb}: a bounded number of lines (${steps.length + ends.length})`);
  const big = ends.map((line) => Number(/: ([\d.]+) MB done/.exec(line)?.[1] ?? 0)).filter((mb) => mb >= LAYER_MB * 0.9);
  t.is(big.length, 1, `${verb}: one end line for the large layer's transfer`);
}

test.serial('the line renderer: push and host pull progress at a bounded rate', async (t) => {
  await repo.commit({ 'seed.txt': `${Date.now()}\n` });
  const result = await pipeline(['run', '--config', file, '--renderer', 'simple'], { cwd: repo.work, env: plainEnv() });
  t.is(result.code, 0, result.output);
  const lines = result.output.split('\n');
  checkLines(t, lines, 'pushing');
  checkLines(t, lines, 'pulling');
  t.true((await hostEngine.getContainer(`${PROJECT}-app`).inspect()).State.Running);
});

test.serial('--json: the same progress as output events, a bounded number of them', async (t) => {
  await repo.commit({ 'seed.txt': `${Date.now()}\n` });
  const result = await pipeline(['run', '--config', file, '--json'], { cwd: repo.work, env: plainEnv() });
  t.is(result.code, 0, result.output);
  const events = result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  t.like(events.at(-1), { type: 'result', status: 'success' });
  const lines = events.filter((event) => event.type === 'output').map((event) => event.line);
  checkLines(t, lines, 'pushing');
  checkLines(t, lines, 'pulling');
  const pulls = events.filter((event) => event.type === 'output' && progress('pulling').test(event.line));
  t.true(
    pulls.every((event) => ['test', 'deploy'].includes(event.stage)),
    'a host pull shows beside the tests or in the deploy',
  );
  t.true(
    pulls.filter((event) => event.stage === 'deploy').every((event) => event.host.endsWith(`@${world.hosts[HOST - 1]}`)),
    'in the deploy, each line names its host',
  );
});
