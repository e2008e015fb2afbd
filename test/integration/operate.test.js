// Looking at and undoing what runs: plan (read-only), status, rollback.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import {
  hostHome,
  pipeline,
  projectContainers,
  pushBranches,
  REPOSITORY,
  resetHosts,
  setUpExample,
  worldCommand,
  worldConfig,
  writeConfig,
} from '../helpers/world.js';

let world;
let repo;
let env;
let config;
/** This file's builds of develop, feature/x and master in the registry, by tag. */
let images;

test.before(async () => {
  ({ world, repo, env, config } = await setUpExample());
  // plan reads the registry for develop and feature/x; rollback deploys feature/x and master.
  images = await pushBranches({ world, repo, env, config }, ['develop', 'feature/x', 'master']);
});

test.after.always(async () => {
  await worldCommand('sshd-start', 'h2').catch(() => undefined);
  if (world) await resetHosts(world);
  await repo?.cleanup();
});

const runIn = (args) => pipeline(['--config', config, ...args], { cwd: repo.work, env });
const qaState = async () =>
  Promise.all(
    [0, 1].map(async (index) =>
      (await world.engines[index].listContainers({ all: true }))
        .map((c) => `${c.Names[0]} ${c.Id.slice(0, 12)} ${c.Image} ${c.State}`)
        .sort(),
    ),
  );
const tagOn = async (index, service) => (await projectContainers(world.engines[index]))[service]?.Labels['pipeline.tag'];

test.serial('plan reads the hosts and changes nothing; an unreachable host makes it exit 1', async (t) => {
  const first = await runIn(['plan', '--env', 'qa']);
  t.is(first.code, 0, first.output);
  t.regex(first.stdout, /web +start develop \(sha256:[0-9a-f]{12}\) \(not deployed yet\)/);
  t.true(first.stdout.includes(`start develop (${images.develop.digest.slice(0, 19)})`), 'the digest is the one this file pushed');
  t.is((await runIn(['run'])).code, 0);

  const before = await qaState();
  const plan = await runIn(['plan', '--env', 'qa', '--docker-tag', 'feature/x']);
  t.is(plan.code, 0, plan.output);
  t.regex(plan.stdout, /deploy +featurex → qa/);
  t.regex(plan.stdout, /web +replace develop \(sha256:[0-9a-f]{12}\) → featurex \(sha256:[0-9a-f]{12}\)/);
  t.true(plan.stdout.includes(`→ featurex (${images.featurex.digest.slice(0, 19)})`), 'the digest is the one this file pushed');
  t.regex(plan.stdout, /logstash +left alone: .* is running/);
  t.deepEqual(await qaState(), before, 'host state is identical before and after');
  t.false(existsSync(join(hostHome(0), '.pipeline/locks/shopping-tool-qa')), 'plan takes no lock');

  await worldCommand('sshd-stop', 'h2');
  try {
    const unreachable = await runIn(['plan', '--env', 'qa']);
    t.is(unreachable.code, 1);
    t.regex(unreachable.stdout, /deploy@10\.213\.0\.12 \[worker\]: unreachable: .*connection refused/);
    t.regex(unreachable.stdout, /deploy@10\.213\.0\.11 \[web\]\n +web +replace/);
  } finally {
    await worldCommand('sshd-start', 'h2');
  }
});

test.serial('status shows per host and service the tag, digest, commit, health and who deployed it', async (t) => {
  const result = await runIn(['status', 'stage']);
  t.is(result.code, 0, result.output);
  const sha = (await repo.git('rev-parse', 'HEAD')).stdout.trim();
  t.regex(result.stdout, /^qa\n/);
  t.regex(
    result.stdout,
    new RegExp(`web +develop  sha256:[0-9a-f]{12}  commit ${sha.slice(0, 12)}  since \\S+  healthy  deployed by \\S+@\\S+`),
  );
  t.regex(result.stdout, /worker +develop .* running|worker +develop .* healthy/);
  t.regex(result.stdout, /logstash +7\.17\.0/);
});

test.serial('rollback brings back the previous release on every host, and again walks further back', async (t) => {
  t.is((await runIn(['deploy', 'qa', '--docker-tag', 'feature/x'])).code, 0);
  t.is((await runIn(['deploy', 'qa', '--docker-tag', 'master'])).code, 0);
  t.is(await tagOn(0, 'web'), 'master');

  const first = await runIn(['rollback', 'qa']);
  t.is(first.code, 0, first.output);
  t.is(await tagOn(0, 'web'), 'featurex');
  t.is(await tagOn(1, 'worker'), 'featurex');
  t.is((await projectContainers(world.engines[0])).web.State, 'running');

  const second = await runIn(['rollback', 'qa']);
  t.is(second.code, 0, second.output);
  t.is(await tagOn(0, 'web'), 'develop');
  t.is(await tagOn(1, 'worker'), 'develop');

  const none = await runIn(['rollback', 'qa', '--to', 'nonexistent']);
  t.is(none.code, 1);
  t.regex(none.stderr, /web: no kept release deployed with tag nonexistent to roll back to/);
  t.is(await tagOn(0, 'web'), 'develop', 'a refused rollback changes nothing');
});

test.serial('a deploy whose services all run other images than the release pulls, switches and verifies them', async (t) => {
  const { logstash } = worldConfig(world).services;
  const onlyOthers = await writeConfig(
    repo,
    { ...worldConfig(world), services: { logstash: { ...logstash, redeploy: true } } },
    'others.json',
  );
  // Hosts that have never had the release: nothing of the app's repository on them.
  await resetHosts(world);
  for (const index of [0, 1]) {
    const engine = world.engines[index];
    const app = (await engine.listImages()).filter((image) =>
      [...(image.RepoTags ?? []), ...(image.RepoDigests ?? [])].some((ref) => ref.includes(REPOSITORY)),
    );
    await Promise.all(app.map((image) => engine.getImage(image.Id).remove({ force: true })));
  }
  const result = await pipeline(['--config', onlyOthers, 'deploy', 'qa', '--docker-tag', 'develop'], { cwd: repo.work, env });
  t.is(result.code, 0, result.output);
  for (const index of [0, 1]) {
    const running = await projectContainers(world.engines[index]);
    t.is(running.logstash?.State, 'running');
  }
});
