// The release command's configuration: exactly as written in the docs, validated against the services and environments.
import test from 'ava';
import { validateConfig } from '../../dist/config/schema.js';
import { planDeploy } from '../../dist/core/plan.js';
import { documentedConfig } from '../fixtures/configs.js';

const withRelease = (release, change = () => {}) => {
  const raw = documentedConfig();
  raw.release = release;
  change(raw);
  return raw;
};

test('release: { command, service, timeout } as documented; the timeout in milliseconds, 10 minutes by default', (t) => {
  const config = validateConfig(withRelease({ command: ['npm', 'run', 'migrate'], service: 'web', timeout: '10m' }));
  t.deepEqual(config.release, { command: ['npm', 'run', 'migrate'], service: 'web', timeout: 600_000 });
  t.is(validateConfig(withRelease({ command: ['npm', 'run', 'migrate'], service: 'web' })).release.timeout, 600_000);
  t.is(validateConfig(documentedConfig()).release, undefined, 'optional');
});

for (const [what, release, change, message] of [
  ['an empty command', { command: [], service: 'web' }, undefined, /release\.command: must name a program/],
  [
    'a timeout that is no duration',
    { command: ['x'], service: 'web', timeout: 'ten minutes' },
    undefined,
    /release\.timeout: must be a duration/,
  ],
  ['an unknown field', { command: ['x'], service: 'web', retries: 2 }, undefined, /release\.retries: unknown field/],
  [
    'a service that does not exist',
    { command: ['x'], service: 'api' },
    undefined,
    /release\.service: no service is called "api"; services: web, worker, logstash/,
  ],
  [
    'a service of a third-party image',
    { command: ['x'], service: 'logstash' },
    undefined,
    /release\.service: logstash runs its own image \(docker\.elastic\.co\/logstash\/logstash:7\.17\.0\), not the release/,
  ],
  [
    'an environment without a host for the service',
    { command: ['x'], service: 'worker' },
    (raw) => {
      raw.environments.edge = { hosts: { web: ['edge-1'] } };
    },
    /environments\.edge\.hosts: no host has a role of worker \(worker\), where the release command runs/,
  ],
]) {
  test(`rejects ${what}`, (t) => {
    const error = t.throws(() => validateConfig(withRelease(release, change), 'pipeline.config.ts'));
    t.is(error.name, 'ConfigError');
    t.regex(error.message, message);
  });
}

test("the release command runs on the primary host: the first host of the service's first role with hosts", (t) => {
  const raw = withRelease({ command: ['x'], service: 'web' }, (c) => {
    c.services.web.roles = ['api', 'web'];
    c.environments.qa.hosts = { worker: ['w-1', 'web-2'], web: ['web-2', 'web-1'] };
  });
  const plan = planDeploy(validateConfig(raw), 'qa');
  t.is(plan.primary.web, 'deploy@web-2');
  t.is(plan.primary.worker, 'deploy@w-1');
  t.is(planDeploy(validateConfig(raw), 'local').primary.web, 'local');
});
