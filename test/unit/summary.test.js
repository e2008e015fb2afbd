import test from 'ava';
import { alignColumns, deploymentRows, formatDuration, summaryTable } from '../../dist/runner/summary.js';

const stage = (name, status, durationMs, message) => ({
  stage: name,
  status,
  startedAt: '2024-05-01T10:00:00.000Z',
  durationMs,
  ...(message ? { message } : {}),
});
const run = (overrides = {}) => ({ stages: [], deployments: [], urls: [], ...overrides });

const DIGEST = 'sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const qaDeployments = [
  {
    environment: 'qa',
    host: 'deploy@10.0.0.1',
    services: [
      { service: 'web', container: 'app-web', image: 'registry.example.com/app:develop', action: 'replaced', digest: DIGEST },
      { service: 'logstash', container: 'app-logstash', image: 'logstash:7.17.0', action: 'left running' },
    ],
  },
  {
    environment: 'qa',
    host: 'deploy@10.0.0.2',
    services: [
      { service: 'worker', container: 'app-worker', image: 'registry.example.com/app:develop', action: 'started', digest: DIGEST },
    ],
  },
];

for (const [ms, text] of [
  [0, '0.0s'],
  [49, '0.0s'],
  [450, '0.5s'],
  [12_340, '12.3s'],
  [59_949, '59.9s'],
  [60_000, '1m 00s'],
  [125_400, '2m 05s'],
  [3_600_000, '60m 00s'],
]) {
  test(`formatDuration(${ms}) is ${text}`, (t) => {
    t.is(formatDuration(ms), text);
  });
}

test('alignColumns pads every column but the last to its widest cell', (t) => {
  t.deepEqual(
    alignColumns([
      ['a', 'bb', 'c'],
      ['ccc', 'd', 'eeee'],
    ]),
    ['a    bb  c', 'ccc  d   eeee'],
  );
  t.deepEqual(
    alignColumns([
      ['x', ''],
      ['yy', ''],
    ]),
    ['x', 'yy'],
    'an empty last column leaves no trailing spaces',
  );
  t.deepEqual(alignColumns([]), []);
});

test('deploymentRows: one row per host and service, the digest only where known', (t) => {
  t.deepEqual(deploymentRows(run({ deployments: qaDeployments })), [
    {
      environment: 'qa',
      host: 'deploy@10.0.0.1',
      service: 'web',
      action: 'replaced',
      image: 'registry.example.com/app:develop',
      digest: DIGEST,
    },
    { environment: 'qa', host: 'deploy@10.0.0.1', service: 'logstash', action: 'left running', image: 'logstash:7.17.0' },
    {
      environment: 'qa',
      host: 'deploy@10.0.0.2',
      service: 'worker',
      action: 'started',
      image: 'registry.example.com/app:develop',
      digest: DIGEST,
    },
  ]);
});

test('summaryTable: nothing ran, nothing to say', (t) => {
  t.is(summaryTable(run()), '');
});

test('summaryTable: stages with status and duration; skipped ones without a duration, with their reason', (t) => {
  const text = summaryTable(
    run({
      stages: [
        stage('checkout', 'success', 312),
        stage('build', 'success', 61_500),
        stage('push', 'skipped', 0, 'no registry configured'),
        stage('resolve', 'success', 2),
        stage('deploy', 'skipped', 0, 'nothing is deployed for branch feature/x'),
      ],
    }),
  );
  t.is(
    text,
    [
      'stage     status   duration',
      'checkout  success  0.3s',
      'build     success  1m 02s',
      'push      skipped  -         no registry configured',
      'resolve   success  0.0s',
      'deploy    skipped  -         nothing is deployed for branch feature/x',
      '',
    ].join('\n'),
  );
});

test('summaryTable: a failed stage shows the first line of why', (t) => {
  const text = summaryTable(run({ stages: [stage('test', 'failure', 4_000, 'tests failed: npm test exited with code 1\nmore detail')] }));
  t.is(text, 'stage  status   duration\ntest   failure  4.0s      tests failed: npm test exited with code 1\n');
});

test('summaryTable: deploys as host × service with image tag and digest, then the addresses to open', (t) => {
  const text = summaryTable(
    run({
      stages: [stage('deploy', 'success', 9_000)],
      deployments: qaDeployments,
      urls: [{ environment: 'qa', host: 'deploy@10.0.0.1', service: 'web', url: 'http://10.0.0.1:8080/health' }],
    }),
  );
  t.is(
    text,
    [
      'stage   status   duration',
      'deploy  success  9.0s',
      '',
      'environment  host             service   action        image                             digest',
      `qa           deploy@10.0.0.1  web       replaced      registry.example.com/app:develop  ${DIGEST}`,
      'qa           deploy@10.0.0.1  logstash  left running  logstash:7.17.0                   -',
      `qa           deploy@10.0.0.2  worker    started       registry.example.com/app:develop  ${DIGEST}`,
      '',
      'web on deploy@10.0.0.1: http://10.0.0.1:8080/health',
      '',
    ].join('\n'),
  );
});
