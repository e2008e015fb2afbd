import test from 'ava';
import { ConfigError, exitCodeFor, HostError, StageError } from '../../dist/errors.js';
import { resultEvent } from '../../dist/runner/result.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const stage = (name, status, message) => ({
  stage: name,
  status,
  startedAt: '2024-05-01T10:00:00.000Z',
  durationMs: 5,
  ...(message ? { message } : {}),
});

/** A run's context as the stages leave it; only what the result reads. */
function context(overrides = {}) {
  return {
    ci: { provider: 'circleci', branch: 'develop', buildUrl: 'https://circleci.com/gh/team/app/42' },
    commit: { sha: SHA },
    branch: 'develop',
    release: { repository: 'registry.example.com/allume/shopping-tool', tag: 'develop' },
    environments: ['qa'],
    stages: [stage('checkout', 'success'), stage('build', 'success')],
    deployments: [],
    urls: [],
    ...overrides,
  };
}

const deployed = [
  {
    environment: 'qa',
    host: 'deploy@h1',
    services: [{ service: 'web', container: 'app-web', image: 'r/app:develop', action: 'replaced', digest: 'sha256:abc' }],
  },
];

const cases = [
  {
    title: 'success: what was deployed where, no failure fields',
    ctx: context({
      stages: [stage('deploy', 'success')],
      deployments: deployed,
      urls: [{ environment: 'qa', host: 'deploy@h1', service: 'web', url: 'http://h1:8080/' }],
    }),
    outcome: { exitCode: 0 },
    expected: {
      type: 'result',
      status: 'success',
      exitCode: 0,
      branch: 'develop',
      commit: SHA,
      deployTag: 'develop',
      environments: ['qa'],
      stages: [stage('deploy', 'success')],
      deployments: [
        { environment: 'qa', host: 'deploy@h1', service: 'web', action: 'replaced', image: 'r/app:develop', digest: 'sha256:abc' },
      ],
      urls: [{ environment: 'qa', host: 'deploy@h1', service: 'web', url: 'http://h1:8080/' }],
      ci: { provider: 'circleci', branch: 'develop', buildUrl: 'https://circleci.com/gh/team/app/42' },
    },
  },
  {
    title: 'failed tests: the failed stage and its message',
    ctx: context({ stages: [stage('build', 'success'), stage('test', 'failure', 'tests failed')], release: undefined, environments: [] }),
    outcome: { exitCode: 1, error: new StageError('tests failed: npm test exited with code 1') },
    expected: {
      status: 'failure',
      exitCode: 1,
      failedStage: 'test',
      message: 'tests failed: npm test exited with code 1',
      deployTag: undefined,
      environments: [],
    },
  },
  {
    title: 'a host failed the deploy: stage and host named',
    ctx: context({ stages: [stage('deploy', 'failure')], failedHost: 'deploy@10.213.0.12' }),
    outcome: { exitCode: 1, error: new HostError('deploy@10.213.0.12', 'unreachable') },
    expected: { failedStage: 'deploy', failedHost: 'deploy@10.213.0.12', message: 'deploy@10.213.0.12: unreachable' },
  },
  {
    title: 'a failed host does not make a successful run fail',
    ctx: context({ failedHost: 'deploy@h2' }),
    outcome: { exitCode: 0 },
    expected: { status: 'success', failedHost: undefined, failedStage: undefined },
  },
  {
    title: 'stopped by a signal: exit 130, the stage it stopped named',
    ctx: context({ stages: [stage('build', 'failure', 'stopped')] }),
    outcome: { exitCode: 130, signal: 'SIGINT' },
    expected: { status: 'failure', exitCode: 130, failedStage: 'build', message: 'stopped by SIGINT' },
  },
  {
    title: 'no run started (usage error): the problem and the CI, nothing else known',
    ctx: undefined,
    outcome: { exitCode: 2, error: new ConfigError('unknown environment "nowhere"') },
    ci: { provider: 'github-actions', branch: 'main' },
    expected: {
      type: 'result',
      status: 'failure',
      exitCode: 2,
      message: 'unknown environment "nowhere"',
      environments: [],
      stages: [],
      deployments: [],
      urls: [],
      ci: { provider: 'github-actions', branch: 'main' },
    },
    exact: true,
  },
  {
    title: 'no run and no CI: an empty ci object',
    ctx: undefined,
    outcome: { exitCode: 1, error: 'a thrown string' },
    expected: { message: 'a thrown string', ci: {} },
  },
];

for (const { title, ctx, outcome, ci, expected, exact } of cases) {
  test(`resultEvent: ${title}`, (t) => {
    const event = resultEvent(ctx, outcome, ci);
    if (exact) {
      t.deepEqual(event, expected);
      return;
    }
    for (const [key, value] of Object.entries(expected)) t.deepEqual(event[key], value, key);
    t.deepEqual(JSON.parse(JSON.stringify(event)), event, 'the event survives JSON as it is');
  });
}

for (const [error, code] of [
  [new ConfigError('bad'), 2],
  [new StageError('tests failed'), 1],
  [new HostError('h', 'down'), 1],
  [new Error('unexpected'), 1],
  ['a string', 1],
]) {
  test(`exitCodeFor(${error instanceof Error ? error.constructor.name : typeof error}) is ${code}`, (t) => {
    t.is(exitCodeFor(error), code);
  });
}
