import test from 'ava';
import { validateConfig } from '../../dist/config/schema.js';
import { newRelease } from '../../dist/core/release.js';
import { templateFingerprint } from '../../dist/core/swarm-changes.js';
import { hostsEntry, swarmOptions } from '../../dist/core/swarm-options.js';
import { planSwarm, serviceImageOf, serviceSpec } from '../../dist/core/swarm-spec.js';
import { documentedConfig } from '../fixtures/configs.js';

const NONE = { volumes: [], labels: {}, extraHosts: [] };
const optionCases = [
  ['no options: nothing is set', NONE, { container: {}, template: {} }],
  [
    'a named volume: the project volume, labelled with the project',
    { ...NONE, volumes: [{ type: 'volume', source: 'shop_data', target: '/data', readOnly: false }] },
    {
      container: {
        Mounts: [
          {
            Type: 'volume',
            Source: 'shop_data',
            Target: '/data',
            ReadOnly: false,
            VolumeOptions: { Labels: { 'pipeline.project': 'shop' } },
          },
        ],
      },
      template: {},
    },
  ],
  [
    'a read-only host path: a bind mount, no volume options',
    { ...NONE, volumes: [{ type: 'bind', source: '/etc/shop', target: '/conf', readOnly: true }] },
    { container: { Mounts: [{ Type: 'bind', Source: '/etc/shop', Target: '/conf', ReadOnly: true }] }, template: {} },
  ],
  ['memory only', { ...NONE, memory: 64 * 1024 ** 2 }, { container: {}, template: { Resources: { Limits: { MemoryBytes: 67108864 } } } }],
  ['cpus as nano CPUs', { ...NONE, cpus: 0.25 }, { container: {}, template: { Resources: { Limits: { NanoCPUs: 250000000 } } } }],
  [
    'memory and cpus',
    { ...NONE, memory: 6 * 1024 ** 2, cpus: 1.5 },
    { container: {}, template: { Resources: { Limits: { MemoryBytes: 6291456, NanoCPUs: 1500000000 } } } },
  ],
  ['a user', { ...NONE, user: '1000:1000' }, { container: { User: '1000:1000' }, template: {} }],
  [
    'logging',
    { ...NONE, logging: { driver: 'json-file', options: { 'max-size': '10m' } } },
    { container: {}, template: { LogDriver: { Name: 'json-file', Options: { 'max-size': '10m' } } } },
  ],
  [
    'extra hosts in /etc/hosts order',
    { ...NONE, extraHosts: ['db.internal:10.0.0.5', 'gw:host-gateway', 'v6:fd00::1'] },
    { container: { Hosts: ['10.0.0.5 db.internal', 'host-gateway gw', 'fd00::1 v6'] }, template: {} },
  ],
];
for (const [name, options, expected] of optionCases) {
  test(`swarmOptions: ${name}`, (t) => t.deepEqual(swarmOptions(options, 'shop'), expected));
}

test('hostsEntry: host:ip becomes "ip host"', (t) => t.is(hostsEntry('a:1.2.3.4'), '1.2.3.4 a'));

function optionsConfig(options) {
  const raw = documentedConfig();
  raw.environments = { cluster: { on: { branches: ['release/*'] }, swarm: { manager: 'deploy@m1' } } };
  raw.services.worker = { ...raw.services.worker, ...options };
  return validateConfig(raw);
}

function workerSpec(options) {
  const plan = planSwarm(optionsConfig(options), 'cluster');
  const worker = plan.services.find((s) => s.service === 'worker');
  const release = newRelease('registry.example.com/allume/shopping-tool', 'r1', { digest: `sha256:${'a'.repeat(64)}` });
  return serviceSpec(worker, {
    project: 'shopping-tool',
    publish: 'ingress',
    image: serviceImageOf(worker, release),
    nodes: [{ id: 'n1', hostname: 'n1', address: '10.0.0.1', role: 'worker', available: true }],
    networkId: 'net1',
    secretEnv: {},
    deployedBy: 'ci',
    deployedAt: '2024-01-01T00:00:00Z',
    history: [],
  });
}

test('serviceSpec: the container options from the config, named volumes as <project>_<name>', (t) => {
  const spec = workerSpec({
    volumes: ['data:/var/lib/data', '/etc/shopping-tool:/etc/app:ro'],
    memory: '256m',
    cpus: 0.5,
    user: 'node',
    labels: { team: 'shop' },
    logging: { driver: 'json-file', options: { 'max-file': '3' } },
    extraHosts: ['db:10.0.0.9'],
  });
  const c = spec.TaskTemplate.ContainerSpec;
  t.deepEqual(c.Mounts, [
    {
      Type: 'volume',
      Source: 'shopping-tool_data',
      Target: '/var/lib/data',
      ReadOnly: false,
      VolumeOptions: { Labels: { 'pipeline.project': 'shopping-tool' } },
    },
    { Type: 'bind', Source: '/etc/shopping-tool', Target: '/etc/app', ReadOnly: true },
  ]);
  t.is(c.User, 'node');
  t.deepEqual(c.Hosts, ['10.0.0.9 db']);
  t.is(c.Labels.team, 'shop');
  t.is(c.Labels['pipeline.service'], 'worker', "the pipeline's labels beside the user's");
  t.false('team' in spec.Labels, 'labels are container labels, as on a fleet');
  t.deepEqual(spec.TaskTemplate.Resources, { Limits: { MemoryBytes: 256 * 1024 ** 2, NanoCPUs: 5e8 } });
  t.deepEqual(spec.TaskTemplate.LogDriver, { Name: 'json-file', Options: { 'max-file': '3' } });
});

test('serviceSpec: without options no option field is set', (t) => {
  const spec = workerSpec({});
  for (const field of ['Mounts', 'User', 'Hosts']) t.false(field in spec.TaskTemplate.ContainerSpec, field);
  for (const field of ['Resources', 'LogDriver']) t.false(field in spec.TaskTemplate, field);
});

const base = workerSpec({ volumes: ['data:/data'], memory: '64m', user: 'node', logging: { driver: 'local', options: {} } }).TaskTemplate;
const changeCases = [
  ['the same options', base, true],
  [
    'as the Engine answers: empty reservations, ReadOnly false left out',
    {
      ...base,
      Resources: { Limits: { ...base.Resources.Limits }, Reservations: {} },
      ContainerSpec: {
        ...base.ContainerSpec,
        Mounts: base.ContainerSpec.Mounts.map(({ ReadOnly: _r, ...m }) => m),
      },
    },
    true,
  ],
  ['another memory limit', { ...base, Resources: { Limits: { MemoryBytes: 1 } } }, false],
  ['a cpu limit added', { ...base, Resources: { Limits: { ...base.Resources.Limits, NanoCPUs: 1e9 } } }, false],
  ['no limits', { ...base, Resources: {} }, false],
  ['another user', { ...base, ContainerSpec: { ...base.ContainerSpec, User: 'root' } }, false],
  [
    'a read-only mount',
    { ...base, ContainerSpec: { ...base.ContainerSpec, Mounts: [{ ...base.ContainerSpec.Mounts[0], ReadOnly: true }] } },
    false,
  ],
  ['no mounts', { ...base, ContainerSpec: { ...base.ContainerSpec, Mounts: undefined } }, false],
  ['an extra host', { ...base, ContainerSpec: { ...base.ContainerSpec, Hosts: ['10.0.0.1 db'] } }, false],
  ['another log driver option', { ...base, LogDriver: { Name: 'local', Options: { 'max-size': '1m' } } }, false],
  ['no log driver', { ...base, LogDriver: undefined }, false],
];
for (const [name, other, same] of changeCases) {
  test(`templateFingerprint sees option changes: ${name}`, (t) => t.is(templateFingerprint(other) === templateFingerprint(base), same));
}
