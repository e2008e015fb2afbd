// The documented deploy process end to end: real git, dockerd, registry with a password and sshd hosts.

import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import Docker from 'dockerode';
import {
  exampleEnv,
  hostHome,
  inspect,
  loadWorld,
  makeRepo,
  pipeline,
  projectContainers,
  registryImage,
  registryTags,
  resetHosts,
  sshLogins,
} from '../helpers/world.js';

const REPOSITORY = 'allume/shopping-tool';
let world;
let repo;
let env;

test.before(async () => {
  world = await loadWorld();
  env = exampleEnv(world);
  repo = await makeRepo();
  await resetHosts(world);
});

test.after.always(async () => {
  if (world) await resetHosts(world);
  await repo?.cleanup();
});

const runIn = (args, extraEnv = {}) => pipeline(args, { cwd: repo.work, env: { ...env, ...extraEnv } });
const hostState = (index) => projectContainers(world.engines[index]);

/** Every output must be free of the registry password. */
function assertNoSecret(t, result) {
  t.false(result.output.includes(world.password), 'the registry password never appears in the output');
}

test.serial('develop → qa: web and worker hosts run their services with the environment and service env', async (t) => {
  await repo.git('checkout', '-q', 'develop');
  const result = await runIn(['run']);
  assertNoSecret(t, result);
  t.is(result.code, 0, result.output);
  t.regex(result.output, /resolve: develop → qa/);

  const web = await hostState(0);
  t.deepEqual(Object.keys(web).sort(), ['logstash', 'web']);
  t.is(web.web.State, 'running');
  t.is(web.web.Image, `${world.registry}/${REPOSITORY}:develop`);
  const worker = await hostState(1);
  t.deepEqual(Object.keys(worker).sort(), ['logstash', 'worker']);
  const workerEnv = (await inspect(world.engines[1], 'shopping-tool-worker')).Config.Env;
  t.true(workerEnv.includes('APP_ENV=qa'));
  t.true(workerEnv.includes('QUEUE=default'));
  t.is(worker.worker.Labels['pipeline.environment'], 'qa');
  t.is(worker.worker.Labels['pipeline.tag'], 'develop');
  for (const index of [2, 3, 4]) t.deepEqual(await hostState(index), {}, `host ${index + 1} is not in qa`);

  const health = await fetch(`http://${world.hosts[0]}:8080/health`);
  t.is(health.status, 200);
  t.is((await health.json()).environment, 'qa');
  t.true(result.stdout.includes(`http://${world.hosts[0]}:8080/health`), 'the run ends with the web service URL');

  const tags = await registryTags(world, REPOSITORY);
  t.true(tags.includes('develop'));
  const sha = (await repo.git('rev-parse', 'HEAD')).stdout.trim();
  t.true(tags.includes(sha), 'the immutable commit tag is pushed too');
  t.is((await registryImage(world, REPOSITORY, 'develop'))?.labels['pipeline.commit'], sha, 'develop in the registry is this build');
  t.is((await registryImage(world, REPOSITORY, sha))?.digest, (await registryImage(world, REPOSITORY, 'develop')).digest);
  t.is(web.web.Labels['pipeline.digest'], (await registryImage(world, REPOSITORY, 'develop')).digest, 'qa runs the image this run pushed');
});

test.serial('a feature/... branch pushes the slash-free tag and deploys nothing', async (t) => {
  const before = await Promise.all(world.engines.map((engine) => projectContainers(engine)));
  await repo.git('checkout', '-q', 'feature/x');
  const result = await runIn(['run']);
  assertNoSecret(t, result);
  t.is(result.code, 0, result.output);
  t.regex(result.output, /nothing is deployed for branch feature\/x/);
  t.true((await registryTags(world, REPOSITORY)).includes('featurex'));
  const pushed = await registryImage(world, REPOSITORY, 'featurex');
  t.like(
    pushed?.labels,
    { 'pipeline.commit': (await repo.git('rev-parse', 'HEAD')).stdout.trim(), 'pipeline.branch': 'feature/x' },
    'featurex in the registry is this build',
  );
  const after = await Promise.all(world.engines.map((engine) => projectContainers(engine)));
  t.deepEqual(
    after.map((host) => Object.values(host).map((c) => c.Id)),
    before.map((host) => Object.values(host).map((c) => c.Id)),
  );
});

test.serial('pipeline deploy qa --docker-tag feature/x redeploys web and worker and leaves logstash running', async (t) => {
  const logstashBefore = (await hostState(0)).logstash.Id;
  const webBefore = (await hostState(0)).web.Id;
  const result = await runIn(['deploy', 'qa', '--docker-tag', 'feature/x']);
  assertNoSecret(t, result);
  t.is(result.code, 0, result.output);
  const web = await hostState(0);
  t.is(web.web.Image, `${world.registry}/${REPOSITORY}:featurex`);
  t.not(web.web.Id, webBefore, 'web was replaced');
  t.is(web.logstash.Id, logstashBefore, 'the running logstash container is untouched');
  t.is(web.logstash.State, 'running');
  t.is((await hostState(1)).worker.Image, `${world.registry}/${REPOSITORY}:featurex`);
  t.is(
    web.web.Labels['pipeline.digest'],
    (await registryImage(world, REPOSITORY, 'featurex')).digest,
    'the image the feature/x run pushed',
  );
});

test.serial('pipeline deploy stage deploys develop to qa', async (t) => {
  const result = await runIn(['deploy', 'stage']);
  t.is(result.code, 0, result.output);
  t.is((await hostState(0)).web.Image, `${world.registry}/${REPOSITORY}:develop`);
  t.is((await hostState(1)).worker.Image, `${world.registry}/${REPOSITORY}:develop`);
});

test.serial('master → production hosts only', async (t) => {
  const qaBefore = [(await hostState(0)).web.Id, (await hostState(1)).worker.Id];
  await repo.git('checkout', '-q', 'master');
  const result = await runIn(['run']);
  t.is(result.code, 0, result.output);
  t.regex(result.output, /resolve: master → production/);
  t.is((await hostState(2)).web.Image, `${world.registry}/${REPOSITORY}:master`);
  t.is((await hostState(3)).worker.Image, `${world.registry}/${REPOSITORY}:master`);
  const master = await registryImage(world, REPOSITORY, 'master');
  t.is(master?.labels['pipeline.commit'], (await repo.git('rev-parse', 'HEAD')).stdout.trim(), 'master in the registry is this build');
  t.is((await hostState(2)).web.Labels['pipeline.digest'], master.digest);
  t.is((await inspect(world.engines[2], 'shopping-tool-web')).Config.Env.includes('APP_ENV=production'), true);
  t.deepEqual([(await hostState(0)).web.Id, (await hostState(1)).worker.Id], qaBefore, 'qa is untouched');
  t.deepEqual(await hostState(4), {}, 'uat is untouched');
});

test.serial('a uat tag on any branch → the uat host, which has both roles and runs each service once', async (t) => {
  await repo.git('checkout', '-q', 'feature/x');
  await repo.git('tag', '-a', 'uat', '-m', 'uat');
  try {
    const result = await runIn(['run']);
    t.is(result.code, 0, result.output);
    t.regex(result.output, /resolve: featurex → uat/);
    const uat = await hostState(4);
    t.deepEqual(Object.keys(uat).sort(), ['logstash', 'web', 'worker']);
    t.is(uat.web.Image, `${world.registry}/${REPOSITORY}:featurex`);
    const all = await world.engines[4].listContainers({ all: true });
    t.is(all.filter((c) => c.Names.includes('/shopping-tool-logstash')).length, 1);
  } finally {
    await repo.git('tag', '-d', 'uat');
  }
});

test.serial('failing tests: non-zero exit, nothing pushed, nothing deployed', async (t) => {
  await repo.git('checkout', '-q', '-b', 'feature/broken', 'develop');
  await writeFile(
    join(repo.work, 'test', 'broken.test.js'),
    "import { test } from 'node:test';\ntest('fails', () => { throw new Error('broken on purpose'); });\n",
  );
  await repo.git('add', '-A');
  await repo.git('commit', '-qm', 'Break the tests');
  const before = (await hostState(0)).web.Id;
  const logins = [await sshLogins(0), await sshLogins(1)];
  const result = await runIn(['run', '--env', 'qa']);
  t.is(result.code, 1, result.output);
  t.regex(result.output, /tests failed: node --test exited with code 1/);
  // The deploy connects to its hosts while build and test run; a failed test closes those connections, and no lock was taken.
  t.deepEqual(
    [(await sshLogins(0)) - logins[0], (await sshLogins(1)) - logins[1]],
    [1, 1],
    'one SSH login per host, made during build and test',
  );
  t.false(existsSync(join(hostHome(0), '.pipeline/locks/shopping-tool-qa')), 'no lock taken');
  t.regex(result.output, /broken on purpose/, 'the test output is shown');
  t.false((await registryTags(world, REPOSITORY)).includes('featurebroken'), 'nothing pushed');
  t.is((await hostState(0)).web.Id, before, 'nothing deployed');
  const leftovers = await new Docker().listContainers({
    all: true,
    filters: { label: ['pipeline.stage=test', 'pipeline.project=shopping-tool'] },
  });
  t.deepEqual(leftovers, [], 'the test container is removed from the runner engine');
});

test.serial('pipeline run --only deploy restores a removed container without building', async (t) => {
  await repo.git('checkout', '-q', 'develop');
  await world.engines[1].getContainer('shopping-tool-worker').remove({ force: true });
  const result = await runIn(['run', '--only', 'deploy']);
  t.is(result.code, 0, result.output);
  t.notRegex(result.output, /Step \d+\/\d+/, 'no build output');
  t.notRegex(result.output, /\[COMPLETED\] (build|test|push)/);
  const worker = await hostState(1);
  t.is(worker.worker.State, 'running');
  t.is(worker.worker.Image, `${world.registry}/${REPOSITORY}:develop`);
});

test.serial('in CircleCI the branch and tag come from its variables (the checkout there is a detached HEAD)', async (t) => {
  await repo.git('checkout', '-q', '--detach', 'develop');
  const circle = {
    CI: 'true',
    CIRCLECI: 'true',
    CIRCLE_SHA1: (await repo.git('rev-parse', 'HEAD')).stdout.trim(),
    CIRCLE_BUILD_URL: 'https://circleci.com/gh/allume/shopping-tool/42',
  };
  const branch = await runIn(['plan', '--offline'], { ...circle, CIRCLE_BRANCH: 'develop' });
  t.is(branch.code, 0, branch.output);
  t.regex(branch.stdout, /\(develop\)/);
  t.regex(branch.stdout, /deploy +develop → qa/);
  const tagBuild = await runIn(['plan', '--offline'], { ...circle, CIRCLE_TAG: 'uat' });
  t.regex(tagBuild.stdout, /tags: uat/);
  t.regex(tagBuild.stdout, /deploy +uat → uat/);
  const json = await runIn(['run', '--only', 'checkout', '--json'], { ...circle, CIRCLE_BRANCH: 'develop' });
  const result = JSON.parse(json.stdout.trim().split('\n').at(-1));
  t.like(result, {
    type: 'result',
    status: 'success',
    branch: 'develop',
    ci: { provider: 'circleci', buildUrl: 'https://circleci.com/gh/allume/shopping-tool/42' },
  });
  await repo.git('checkout', '-q', 'develop');
});

test.serial('an unknown environment exits 2 naming it', async (t) => {
  const result = await runIn(['deploy', 'staging']);
  t.is(result.code, 2);
  t.is(result.stderr.trim(), 'pipeline: unknown environment "staging"; known: local, qa (stage), production, uat');
});

test.serial('an invalid config exits 2 naming the field, before anything runs', async (t) => {
  const file = join(repo.dir, 'bad.config.json');
  await writeFile(
    file,
    JSON.stringify({ project: 'x', image: 'x', services: { web: { roles: [] } }, environments: { qa: { hosts: { web: [] } } } }),
  );
  const result = await runIn(['run', '--config', file]);
  t.is(result.code, 2);
  t.regex(
    result.stderr,
    /^pipeline: invalid configuration in bad\.config\.json: .*services\.web\.roles: a service needs at least one role/,
  );
  t.regex(result.stderr, /environments\.qa\.hosts\.web: a role needs at least one host/);
  t.is(result.stderr.trim().split('\n').length, 1);
});

test.serial('without a Docker engine the run says so in one line and exits 1', async (t) => {
  const result = await runIn(['run', '--env', 'local'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
  t.is(result.code, 1);
  t.regex(result.stderr, /pipeline: no Docker engine is reachable at unix:\/\/\/nonexistent\/docker\.sock \(ENOENT\)/);
});
