import test from 'ava';
import { validateConfig } from '../../dist/config/schema.js';
import { documentedConfig } from '../fixtures/configs.js';

test('the documented configuration is valid and gets defaults', (t) => {
  const config = validateConfig(documentedConfig());
  t.is(config.services.web.redeploy, true);
  t.is(config.services.logstash.redeploy, false);
  t.deepEqual(config.environments.production.aliases, []);
  t.is(config.parallel, 10);
  t.is(config.services.web.stopGracePeriod, 10_000, 'durations are milliseconds once validated');
});

test('an embedded local environment puts every role on the runner', (t) => {
  const config = validateConfig(documentedConfig());
  t.deepEqual(config.environments.local.hosts, { web: ['local'], worker: ['local'] });
  t.deepEqual(config.environments.local.on.branches, [], 'not chosen by branch when environments are configured');
  const { environments, ...bare } = documentedConfig();
  t.deepEqual(validateConfig(bare).environments.local.on.branches, ['**'], 'the default target when none are configured');
});

const invalid = [
  ['a wrong type', (c) => { c.ssh.port = '22'; }, /ssh\.port: expected number, received string/],
  ['an unknown key', (c) => { c.environments.qa.host = {}; }, /environments\.qa\.host: unknown field/],
  ['an unknown top-level key', (c) => { c.deploy = {}; }, /deploy: unknown field/],
  ['a role with no hosts', (c) => { c.environments.qa.hosts.web = []; }, /environments\.qa\.hosts\.web: a role needs at least one host/],
  ['a service with no roles', (c) => { c.services.worker.roles = []; }, /services\.worker\.roles: a service needs at least one role/],
  ['a role no service has', (c) => { c.environments.qa.hosts.cron = ['h']; }, /environments\.qa\.hosts\.cron: no service has the role "cron"/],
  ['an image with a tag', (c) => { c.image = 'registry.example.com/allume/shopping-tool:latest'; }, /image: must not carry a tag/],
  ['a bad port mapping', (c) => { c.services.web.ports = ['eighty']; }, /services\.web\.ports\[0\]: must be "HOST:CONTAINER"/],
  ['a bad duration', (c) => { c.services.web.stopGracePeriod = 'ten'; }, /services\.web\.stopGracePeriod: must be a duration/],
  ['an alias that is another environment', (c) => { c.environments.qa.aliases = ['uat']; }, /environments\.qa\.aliases: "uat" is already the name of environment uat/],
  ['no project', (c) => { delete c.project; }, /project: expected string, received undefined/],
  ['an empty test command', (c) => { c.test.command = []; }, /test\.command: must name a program/],
];

for (const [what, change, message] of invalid) {
  test(`rejects ${what}, naming the field`, (t) => {
    const raw = documentedConfig();
    change(raw);
    const error = t.throws(() => validateConfig(raw, 'pipeline.config.ts'));
    t.is(error.name, 'ConfigError');
    t.regex(error.message, /^invalid configuration in pipeline\.config\.ts: /);
    t.regex(error.message, message);
    t.false(error.message.includes('\n'), 'one line');
  });
}

test('reports every problem at once', (t) => {
  const raw = documentedConfig();
  raw.ssh.port = 'x';
  raw.services.web.roles = 'web';
  const error = t.throws(() => validateConfig(raw));
  t.regex(error.message, /ssh\.port/);
  t.regex(error.message, /services\.web\.roles/);
});
