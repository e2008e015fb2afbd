// --json, --report and the summary table, from the real CLI on the runner's own Docker engine (the embedded `local` environment).

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import Docker from 'dockerode';
import { removeProjectContainers } from '../helpers/image-app.js';
import { commitOnBranch, loadWorld, makeRepo, NO_CI, pipeline, removeLocalLocks, writeConfig } from '../helpers/world.js';
import { findAll, parseXml } from '../helpers/xml.js';

// Its own project and port, so that it never meets the example's shopping-tool containers on 8080.
const PROJECT = 'output-test';
const IMAGE = `${PROJECT}/shopping-tool`;
const URL = 'http://127.0.0.1:18080/health';
const SECRET = 'output-test-s3cret-value';
const STAGE_ORDER = ['checkout', 'build', 'test', 'push', 'resolve', 'deploy'];

const docker = new Docker();
let repo;
let configFile;
let env;

/** The example app without a registry (push is skipped) and without logstash; its tests write JUnit XML and print a secret. */
function outputConfig(world) {
  const junit =
    'node --test --test-reporter=spec --test-reporter-destination=stdout --test-reporter=junit --test-reporter-destination=/tmp/junit.xml';
  return {
    project: PROJECT,
    image: IMAGE,
    build: { context: '.', dockerfile: 'Dockerfile', args: { BASE_IMAGE: world.nodeImage } },
    test: { command: ['sh', '-c', `echo "token ${SECRET}"; exec ${junit}`], reports: '/tmp/junit.xml' },
    services: {
      web: {
        roles: ['web'],
        command: ['node', 'server.js'],
        ports: ['18080:8000'],
        healthcheck: { http: { path: '/health', port: 8000 }, interval: '500ms', retries: 10 },
        stopGracePeriod: '2s',
      },
      worker: { roles: ['worker'], command: ['node', 'worker.js'], secrets: ['OUTPUT_TEST_SECRET'], stopGracePeriod: '2s' },
    },
  };
}

test.before(async () => {
  const world = await loadWorld();
  await removeProjectContainers(docker, PROJECT);
  await removeLocalLocks(PROJECT);
  repo = await makeRepo();
  configFile = await writeConfig(repo, outputConfig(world));
  env = {
    ...process.env,
    ...NO_CI,
    OUTPUT_TEST_SECRET: SECRET,
  };
  delete env.REGISTRY_PASSWORD;
});

/** Every commit the tests build leaves two tags; they are only this test's. */
async function removeProjectImages() {
  const images = await docker.listImages({ filters: { reference: [IMAGE] } });
  await Promise.all(
    images.map((image) =>
      docker
        .getImage(image.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}

test.after.always(async () => {
  await removeProjectContainers(docker, PROJECT);
  await removeProjectImages();
  await removeLocalLocks(PROJECT);
  await repo?.cleanup();
});

const cli = (args) => pipeline([...args, '--config', configFile], { cwd: repo.work, env });

/** Every stdout line as a JSON event; a line that is not JSON fails the test, naming it. */
function eventsOf(t, stdout) {
  t.true(stdout.endsWith('\n'), 'stdout ends with a whole line');
  return stdout
    .split('\n')
    .slice(0, -1)
    .map((line) => {
      try {
        return JSON.parse(line);
      } catch {
        t.fail(`stdout line is not JSON: ${line}`);
        return undefined;
      }
    });
}

const stageSteps = (events) => events.filter((event) => event.type === 'stage').map((event) => `${event.stage} ${event.status}`);
const webContainer = () => docker.getContainer(`${PROJECT}-web`).inspect();

test.serial('run --json --report: JSON events only on stdout, the result last; people read stderr; JUnit with the app tests', async (t) => {
  const reportFile = join(repo.dir, 'test-results', 'pipeline.xml');
  const result = await cli(['run', '--env', 'local', '--json', '--report', reportFile]);
  t.is(result.code, 0, result.output);
  t.false(result.output.includes(SECRET), 'the secret never appears, neither in events nor in the lines for people');

  const events = eventsOf(t, result.stdout);
  const outcome = events.at(-1);
  const sha = (await repo.git('rev-parse', 'HEAD')).stdout.trim();
  t.like(outcome, {
    type: 'result',
    status: 'success',
    exitCode: 0,
    branch: 'master',
    commit: sha,
    deployTag: 'master',
    environments: ['local'],
    ci: {},
  });
  t.false('failedStage' in outcome);
  t.deepEqual(
    outcome.deployments.map((row) => [row.environment, row.host, row.service, row.image]),
    [
      ['local', 'local', 'web', `${IMAGE}:master`],
      ['local', 'local', 'worker', `${IMAGE}:master`],
    ],
  );
  t.deepEqual(
    outcome.urls.map((entry) => entry.url),
    [URL],
  );
  t.is(events.filter((event) => event.type === 'result').length, 1, 'one result event');

  t.deepEqual(
    stageSteps(events),
    STAGE_ORDER.flatMap((stage) => [`${stage} started`, `${stage} ${stage === 'push' ? 'skipped' : 'success'}`]),
  );
  t.is(events.find((event) => event.stage === 'push' && event.status === 'skipped').message, 'no registry configured');
  for (const event of events.filter((e) => e.type === 'stage' && e.status !== 'started')) {
    t.true(Number.isInteger(event.durationMs) && event.durationMs >= 0, `${event.stage} has a duration`);
    t.false(Number.isNaN(Date.parse(event.time)), `${event.stage} has a time`);
  }
  const switched = events.find((event) => event.type === 'host' && event.phase === 'switch' && event.status === 'success');
  t.like(switched, { environment: 'local', host: 'local' });
  t.regex(switched.message, /web started|web replaced/);
  const testOutput = events.filter((event) => event.type === 'output' && event.stage === 'test').map((event) => event.line);
  t.true(
    testOutput.some((line) => line.includes('GET /health answers 200')),
    'the test output is carried in output events',
  );
  t.true(testOutput.includes('token ***'), 'output events are masked');

  t.regex(result.stderr, /checkout: master at [0-9a-f]{12}/, 'progress for people on stderr');
  t.regex(result.stderr, /^stage +status +duration$/m, 'the summary table on stderr');
  t.regex(result.stderr, /^local +local +web +(started|replaced) +output-test\/shopping-tool:master +-$/m);
  t.true(result.stderr.includes(`web on local: ${URL}`));
  t.is((await fetch(URL)).status, 200);

  const report = parseXml(await readFile(reportFile, 'utf8'));
  t.is(report.name, 'testsuites');
  const [stages, app] = findAll(report, 'testsuite');
  t.like(stages.attributes, { name: `pipeline ${PROJECT}`, tests: '6', failures: '0', skipped: '1' });
  t.deepEqual(
    findAll(stages, 'testcase').map((testcase) => testcase.attributes.name),
    STAGE_ORDER,
  );
  t.deepEqual(findAll(stages, 'failure'), []);
  t.truthy(app, 'the app test results are merged in');
  t.deepEqual(
    findAll(app, 'testcase').map((testcase) => testcase.attributes.name),
    ['GET /health answers 200 with the release'],
  );
});

test.serial(
  'failing tests: result failure naming the test stage, exit 1, a JUnit failure for the stage and for the app test',
  async (t) => {
    const webBefore = (await webContainer()).Id;
    await commitOnBranch(repo, 'feature/broken', 'master', {
      'test/broken.test.js':
        "import { test } from 'node:test';\ntest('fails on purpose', () => { throw new Error('broken on purpose'); });\n",
    });
    const reportFile = join(repo.dir, 'broken.xml');
    const result = await cli(['run', '--env', 'local', '--json', '--report', reportFile]);
    t.is(result.code, 1, result.output);

    const events = eventsOf(t, result.stdout);
    const outcome = events.at(-1);
    t.like(outcome, { type: 'result', status: 'failure', exitCode: 1, failedStage: 'test', branch: 'feature/broken', deployments: [] });
    t.regex(outcome.message, /^tests failed: sh -c .* exited with code 1$/);
    t.is(events.filter((event) => event.type === 'result').length, 1, 'the run wrote the result; the CLI, printing the error, wrote none');
    t.false('failedHost' in outcome);
    t.deepEqual(stageSteps(events), [
      'checkout started',
      'checkout success',
      'build started',
      'build success',
      'test started',
      'test failure',
    ]);
    t.false(
      events.some((event) => event.type === 'host'),
      'nothing was deployed',
    );
    t.is((await webContainer()).Id, webBefore);
    t.regex(result.stderr, /pipeline: tests failed/);
    t.regex(result.stderr, /^test +failure +\S+ +tests failed/m, 'the summary table says which stage failed');

    const report = parseXml(await readFile(reportFile, 'utf8'));
    const [stages, app] = findAll(report, 'testsuite');
    t.like(stages.attributes, { tests: '3', failures: '1' });
    const failed = findAll(stages, 'testcase').find((testcase) => findAll(testcase, 'failure').length > 0);
    t.is(failed.attributes.name, 'test');
    t.regex(findAll(failed, 'failure')[0].attributes.message, /tests failed/);
    const appFailures = findAll(app, 'testcase').filter((testcase) => findAll(testcase, 'failure').length > 0);
    t.deepEqual(
      appFailures.map((testcase) => testcase.attributes.name),
      ['fails on purpose'],
    );
  },
);

test.serial('deploy --json: host progress for every phase, the result names the deploy', async (t) => {
  const result = await cli(['deploy', 'local', '--docker-tag', 'master', '--json']);
  t.is(result.code, 0, result.output);
  const events = eventsOf(t, result.stdout);
  t.like(events.at(-1), { type: 'result', status: 'success', exitCode: 0, deployTag: 'master', environments: ['local'] });
  t.deepEqual(
    events.at(-1).deployments.map((row) => `${row.service} ${row.action}`),
    ['web replaced', 'worker replaced'],
  );
  t.deepEqual(stageSteps(events), ['resolve started', 'resolve success', 'deploy started', 'deploy success']);
  const hostSteps = events.filter((event) => event.type === 'host').map((event) => `${event.phase} ${event.host} ${event.status}`);
  t.deepEqual(
    hostSteps,
    ['preflight', 'pull', 'switch', 'verify'].flatMap((phase) => [`${phase} local started`, `${phase} local success`]),
  );
});

test.serial('without --json the summary table goes to stdout: stages, then host × service with image and digest', async (t) => {
  const result = await cli(['deploy', 'local', '--docker-tag', 'master']);
  t.is(result.code, 0, result.output);
  t.regex(result.stdout, /^stage +status +duration\nresolve +success +\d+\.\ds\ndeploy +success +\d+\.\ds\n/m);
  t.regex(result.stdout, /^environment +host +service +action +image +digest$/m);
  t.regex(result.stdout, /^local +local +web +replaced +output-test\/shopping-tool:master +-$/m);
  t.regex(result.stdout, /^local +local +worker +replaced +output-test\/shopping-tool:master +-$/m);
  t.false(
    result.stdout.split('\n').some((line) => line.startsWith('{')),
    'no JSON without --json',
  );
});

const usageErrors = [
  { title: 'an unknown stage', args: ['run', '--only', 'bogus'], message: /bogus/ },
  { title: 'an unknown environment', args: ['deploy', 'nowhere', '--config', 'CONFIG'], message: /nowhere/ },
  { title: 'a missing config file', args: ['run', '--config', 'missing.json'], message: /missing\.json/ },
];

for (const { title, args, message } of usageErrors) {
  test.serial(`--json with ${title}: exit 2 and one result event on stdout naming the problem`, async (t) => {
    const result = await pipeline([...args.map((arg) => (arg === 'CONFIG' ? configFile : arg)), '--json'], { cwd: repo.work, env });
    t.is(result.code, 2, result.output);
    const events = eventsOf(t, result.stdout);
    t.is(events.length, 1);
    t.like(events[0], { type: 'result', status: 'failure', exitCode: 2, stages: [], deployments: [] });
    t.regex(events[0].message, message);
    t.regex(result.stderr, /^pipeline: /m);
  });
}
