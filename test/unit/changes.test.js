import test from 'ava';
import { changeLines } from '../../dist/cli/plan.js';
import { validateConfig } from '../../dist/config/schema.js';
import { describeChange, planChanges } from '../../dist/core/changes.js';
import { planDeploy } from '../../dist/core/plan.js';
import { newRelease } from '../../dist/core/release.js';
import { documentedConfig } from '../fixtures/configs.js';

const config = validateConfig(documentedConfig());
// The qa web host: web (redeployed) and logstash (redeploy: false).
const [webHost] = planDeploy(config, 'qa').hosts;
const running = (tag, extra = {}) => ({ running: true, image: `registry.example.com/allume/shopping-tool:${tag}`, tag, ...extra });

const cases = [
  ['nothing deployed yet', {}, { web: 'start', logstash: 'start' }],
  ['both running', { web: running('develop'), logstash: running('7.17.0') }, { web: 'replace', logstash: 'leave' }],
  [
    'web stopped, logstash stopped',
    { web: { ...running('develop'), running: false }, logstash: { ...running('7.17.0'), running: false } },
    { web: 'replace', logstash: 'start' },
  ],
  [
    'a service no longer on this host',
    { web: running('develop'), logstash: running('7.17.0'), worker: running('develop') },
    { web: 'replace', logstash: 'leave', worker: 'remove' },
  ],
];

for (const [name, observed, expected] of cases) {
  test(`planChanges: ${name}`, (t) => {
    const changes = planChanges(webHost.services, new Map(Object.entries(observed)));
    t.deepEqual(Object.fromEntries(changes.map((c) => [c.service, c.action])), expected);
  });
}

test('pipeline plan prints exactly the actions the deploy takes for the same observed host', (t) => {
  const release = newRelease(config.image, 'featurex');
  for (const [, observed, expected] of cases) {
    const changes = planChanges(webHost.services, new Map(Object.entries(observed)));
    const lines = changeLines({ services: webHost.services, changes }, release);
    const printed = Object.fromEntries(
      lines.map((line) => {
        const [service, verb] = line.trim().split(/\s+/);
        return [service, { start: 'start', replace: 'replace', left: 'leave', remove: 'remove' }[verb]];
      }),
    );
    t.deepEqual(printed, expected);
  }
});

test('describeChange says what runs now and what would run', (t) => {
  const digest = `sha256:${'b'.repeat(64)}`;
  const current = running('develop', { digest });
  t.is(
    describeChange({ service: 'web', action: 'replace', current }, true, 'featurex'),
    `replace develop (${digest.slice(0, 19)}) → featurex`,
  );
  t.is(
    describeChange({ service: 'web', action: 'replace', current: { ...current, running: false } }, true, 'featurex'),
    `replace develop (${digest.slice(0, 19)}) (stopped) → featurex`,
  );
  t.is(describeChange({ service: 'web', action: 'start' }, true, 'featurex'), 'start featurex (not deployed yet)');
  t.is(describeChange({ service: 'logstash', action: 'start' }, false, 'logstash:7'), 'start logstash:7 (not running)');
  t.is(
    describeChange({ service: 'logstash', action: 'leave', current: running('7.17.0') }, false, 'logstash:7'),
    'left alone: 7.17.0 is running',
  );
  t.is(
    describeChange({ service: 'worker', action: 'remove', current: running('develop') }, true, 'featurex'),
    'remove develop (no longer on this host)',
  );
});
