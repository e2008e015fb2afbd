// Which hosts `pipeline logs` and `pipeline exec` work on: those of a service's roles, or the one --host names.
import test from 'ava';
import { serviceMembers } from '../../dist/cli/members.js';
import { validateConfig } from '../../dist/config/schema.js';
import { documentedConfig } from '../fixtures/configs.js';

const config = validateConfig(documentedConfig());
const members = [
  { id: 'deploy@prod-web-1:2222', roles: ['web'] },
  { id: 'deploy@prod-worker-1', roles: ['worker'] },
];
const pick = (service, host) =>
  serviceMembers(config, 'production', members, service, host).map(({ member, service: name }) => `${member.id} ${name}`);

test('a service runs on the hosts of its roles', (t) => {
  t.deepEqual(pick('web'), ['deploy@prod-web-1:2222 web']);
  t.deepEqual(pick('logstash'), ['deploy@prod-web-1:2222 logstash', 'deploy@prod-worker-1 logstash']);
});

test('without a service: every service of every host', (t) => {
  t.deepEqual(pick(undefined), [
    'deploy@prod-web-1:2222 web',
    'deploy@prod-web-1:2222 logstash',
    'deploy@prod-worker-1 worker',
    'deploy@prod-worker-1 logstash',
  ]);
});

for (const host of ['deploy@prod-web-1:2222', 'prod-web-1', 'prod-web-1:2222']) {
  test(`--host ${host} keeps that host`, (t) => t.deepEqual(pick('logstash', host), ['deploy@prod-web-1:2222 logstash']));
}

test('the host as the config writes it, defaults filled in', (t) => {
  t.deepEqual(pick('worker', 'prod-worker-1'), ['deploy@prod-worker-1 worker']);
});

for (const [what, service, host, message] of [
  ['an unknown service', 'api', undefined, 'unknown service "api"; services: web, worker, logstash'],
  [
    'a host not in the environment',
    'web',
    'qa-web-1.example.com',
    'host qa-web-1.example.com is not a host of web in production; its host is deploy@prod-web-1:2222',
  ],
  [
    'a host of the environment that does not run the service',
    'web',
    'prod-worker-1',
    'host prod-worker-1 is not a host of web in production; its host is deploy@prod-web-1:2222',
  ],
  [
    'a host that is no host',
    'logstash',
    'a b',
    'host a b is not a host of logstash in production; its hosts are deploy@prod-web-1:2222, deploy@prod-worker-1',
  ],
]) {
  test(`${what} is a usage error`, (t) => {
    const error = t.throws(() => pick(service, host));
    t.is(error.name, 'ConfigError');
    t.is(error.message, message);
  });
}

test('a service with no host in the environment', (t) => {
  const error = t.throws(() => serviceMembers(config, 'production', [{ id: 'deploy@prod-worker-1', roles: ['worker'] }], 'web'));
  t.is(error.message, 'web does not run in production: no host has its roles');
});

test('a swarm: its manager reaches every service, and --host is left for the target to choose a node', (t) => {
  const raw = documentedConfig();
  raw.environments = { cluster: { on: { branches: ['release/*'] }, swarm: { manager: 'deploy@m1' } } };
  const swarm = validateConfig(raw);
  const manager = [{ id: 'deploy@m1', roles: ['swarm manager'] }];
  const names = (service, host) => serviceMembers(swarm, 'cluster', manager, service, host).map((s) => `${s.member.id} ${s.service}`);
  t.deepEqual(names('web'), ['deploy@m1 web']);
  t.deepEqual(names(undefined), ['deploy@m1 web', 'deploy@m1 worker', 'deploy@m1 logstash']);
  t.deepEqual(names('web', 'swarm-node-2'), ['deploy@m1 web']);
});
