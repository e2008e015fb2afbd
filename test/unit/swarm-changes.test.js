import test from 'ava';
import { changeLines } from '../../dist/cli/plan.js';
import { validateConfig } from '../../dist/config/schema.js';
import { newRelease } from '../../dist/core/release.js';
import {
  asServiceChange,
  nextHistory,
  parseHistory,
  planSwarmChanges,
  rollbackTarget,
  templateFingerprint,
} from '../../dist/core/swarm-changes.js';
import { planSwarm } from '../../dist/core/swarm-spec.js';
import { documentedConfig } from '../fixtures/configs.js';

const raw = documentedConfig();
raw.environments = { cluster: { swarm: { manager: 'swarm-1' } } };
const { services } = planSwarm(validateConfig(raw), 'cluster');

const entry = (tag) => ({ image: `r/app:${tag}@sha256:${tag.padEnd(64, '0')}`, tag, digest: `sha256:${tag.padEnd(64, '0')}` });
const observed = (service, running, extra = {}) => ({
  id: `id-${service}`,
  service,
  environment: 'cluster',
  desired: 2,
  running,
  image: entry('develop'),
  history: [],
  ...extra,
});

const cases = [
  ['nothing deployed yet', {}, { web: 'create', worker: 'create', logstash: 'create' }],
  [
    'all running',
    { web: observed('web', 2), worker: observed('worker', 1), logstash: observed('logstash', 3) },
    { web: 'update', worker: 'update', logstash: 'leave' },
  ],
  [
    'services with no running task',
    { web: observed('web', 0), worker: observed('worker', 0), logstash: observed('logstash', 0) },
    { web: 'update', worker: 'update', logstash: 'update (forced)' },
  ],
  [
    'a service the config no longer has',
    { web: observed('web', 2), cron: observed('cron', 1) },
    { web: 'update', worker: 'create', logstash: 'create', cron: 'remove' },
  ],
];

for (const [name, seen, expected] of cases) {
  test(`planSwarmChanges: ${name}`, (t) => {
    const changes = planSwarmChanges(services, new Map(Object.entries(seen)));
    t.deepEqual(Object.fromEntries(changes.map((c) => [c.service, `${c.action}${c.force ? ' (forced)' : ''}`])), expected);
  });
}

test('pipeline plan prints for a swarm the actions its deploy takes', (t) => {
  const release = newRelease('r/app', 'featurex');
  const changes = planSwarmChanges(services, new Map(Object.entries(cases[3][1]))).map(asServiceChange);
  const lines = changeLines({ services, changes, digest: `sha256:${'f'.repeat(64)}` }, release).map((line) =>
    line.trim().replace(/\s+/g, ' '),
  );
  t.deepEqual(lines, [
    'web replace develop (sha256:develop00000) → featurex (sha256:ffffffffffff)',
    'worker start featurex (sha256:ffffffffffff) (not deployed yet)',
    'logstash start docker.elastic.co/logstash/logstash:7.17.0 (not running)',
    'cron remove develop (sha256:develop00000) (no longer on this host)',
  ]);
});

const historyCases = [
  ['a first deploy has none', undefined, 'release1', 3, []],
  ['the release that ran goes first', { image: entry('release1'), history: [entry('release0')] }, 'release2', 3, ['release1', 'release0']],
  ['at most keepReleases', { image: entry('r3'), history: [entry('r2'), entry('r1')] }, 'r4', 2, ['r3', 'r2']],
  ['redeploying the same release keeps the history', { image: entry('r2'), history: [entry('r1')] }, 'r2', 3, ['r1']],
  [
    'deploying an older release takes it out of the history',
    { image: entry('r3'), history: [entry('r2'), entry('r1')] },
    'r1',
    3,
    ['r3', 'r2'],
  ],
  ['keepReleases 0 keeps nothing', { image: entry('r3'), history: [] }, 'r4', 0, []],
];
for (const [name, current, next, keep, expected] of historyCases) {
  test(`nextHistory: ${name}`, (t) => {
    t.deepEqual(
      nextHistory(current && observed('web', 1, current), entry(next), keep).map((e) => e.tag),
      expected,
    );
  });
}

const rollbackCases = [
  ['the newest kept release', [entry('r2'), entry('r1')], undefined, 'r2', ['r1']],
  ['the one with the tag, and what is older', [entry('r3'), entry('r2'), entry('r1')], 'r2', 'r2', ['r1']],
  ['nothing kept', [], undefined, undefined, undefined],
  ['no such tag', [entry('r1')], 'r9', undefined, undefined],
];
for (const [name, history, to, target, rest] of rollbackCases) {
  test(`rollbackTarget: ${name}`, (t) => {
    const found = rollbackTarget(history, to);
    t.is(found?.target.tag, target);
    t.deepEqual(
      found?.history.map((e) => e.tag),
      rest,
    );
  });
}

test('parseHistory: what is not a history is none', (t) => {
  t.deepEqual(
    parseHistory(JSON.stringify([entry('r1'), { tag: 'no image' }])).map((e) => e.tag),
    ['r1'],
  );
  t.deepEqual(parseHistory('not json'), []);
  t.deepEqual(parseHistory('{"a":1}'), []);
  t.deepEqual(parseHistory(undefined), []);
});

const template = {
  ContainerSpec: {
    Image: 'r/app:1@sha256:1',
    Args: ['node', 'server.js'],
    Env: ['A=1'],
    Labels: { b: '2', a: '1' },
    StopGracePeriod: 1e10,
    HealthCheck: { Test: ['CMD', 'true'], Interval: 1e9, Timeout: 2e9, Retries: 3 },
  },
  Placement: { Constraints: ['node.labels.role==web'] },
  Networks: [{ Target: 'n1', Aliases: ['web'] }],
};
const fingerprintCases = [
  [
    'what Swarm adds is left out',
    {
      ...template,
      ContainerSpec: { ...template.ContainerSpec, Isolation: 'default', DNSConfig: {}, Init: false },
      Placement: { ...template.Placement, Platforms: [{ OS: 'linux' }] },
      Resources: {},
      Runtime: 'container',
      ForceUpdate: 0,
    },
    true,
  ],
  ['the order of labels does not matter', { ...template, ContainerSpec: { ...template.ContainerSpec, Labels: { a: '1', b: '2' } } }, true],
  [
    'a zero start period the Engine leaves out',
    { ...template, ContainerSpec: { ...template.ContainerSpec, HealthCheck: { ...template.ContainerSpec.HealthCheck, StartPeriod: 0 } } },
    true,
  ],
  ['another image', { ...template, ContainerSpec: { ...template.ContainerSpec, Image: 'r/app:2@sha256:2' } }, false],
  ['another env', { ...template, ContainerSpec: { ...template.ContainerSpec, Env: ['A=2'] } }, false],
  ['a forced update', { ...template, ForceUpdate: 1 }, false],
  ['no health check', { ...template, ContainerSpec: { ...template.ContainerSpec, HealthCheck: undefined } }, false],
];
for (const [name, other, same] of fingerprintCases) {
  test(`templateFingerprint: ${name}`, (t) => t.is(templateFingerprint(other) === templateFingerprint(template), same));
}
