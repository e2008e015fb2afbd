// Container options: parsed once with Compose's names and meanings, validated with field paths, mapped to the Engine's create body.
import test from 'ava';
import { containerSpec, hostConfig, oneOffSpec } from '../../dist/adapters/service.js';
import { validateConfig } from '../../dist/config/schema.js';
import { parseExtraHost, parseMemory, parseVolume } from '../../dist/core/container-options.js';
import { planDeploy } from '../../dist/core/plan.js';
import { documentedConfig } from '../fixtures/configs.js';

for (const [text, mount] of [
  ['data:/var/lib/data', { type: 'volume', source: 'data', target: '/var/lib/data', readOnly: false }],
  ['data:/var/lib/data:ro', { type: 'volume', source: 'data', target: '/var/lib/data', readOnly: true }],
  [
    '/etc/logstash/pipeline:/usr/share/logstash/pipeline:ro',
    { type: 'bind', source: '/etc/logstash/pipeline', target: '/usr/share/logstash/pipeline', readOnly: true },
  ],
  ['/srv/uploads:/app/uploads:rw', { type: 'bind', source: '/srv/uploads', target: '/app/uploads', readOnly: false }],
  ['./pipeline:/p', /host path must be absolute/],
  ['~/data:/p', /host path must be absolute/],
  ['/data', /must be "NAME:\/PATH"/],
  ['a:b:c:d', /must be "NAME:\/PATH"/],
  ['data:relative', /path in the container must be absolute/],
  ['data:/p:z', /mode must be "ro" or "rw"/],
  ['my volume:/p', /volume name must be/],
]) {
  test(`parseVolume(${JSON.stringify(text)})`, (t) => {
    const parsed = parseVolume(text);
    if (mount instanceof RegExp) t.regex(parsed, mount);
    else t.deepEqual(parsed, mount);
  });
}

for (const [value, bytes] of [
  ['512m', 512 * 1024 ** 2],
  ['1g', 1024 ** 3],
  ['1.5GB', 1.5 * 1024 ** 3],
  ['256MiB', 256 * 1024 ** 2],
  ['64k', 65536],
  ['1024', 1024],
  [1073741824, 1073741824],
  ['lots', undefined],
  ['-1m', undefined],
  [0, undefined],
  [1.5, undefined],
  ['1 x', undefined],
]) {
  test(`parseMemory(${JSON.stringify(value)})`, (t) => t.is(parseMemory(value), bytes));
}

for (const [text, entry] of [
  ['db.internal:10.0.0.5', 'db.internal:10.0.0.5'],
  ['db.internal=10.0.0.5', 'db.internal:10.0.0.5'],
  ['v6host:::1', 'v6host:::1'],
  ['v6host=[2001:db8::1]', 'v6host:2001:db8::1'],
  ['gateway:host-gateway', 'gateway:host-gateway'],
  ['db.internal', { problem: 'must be "host:ip", e.g. "db.internal:10.0.0.5"' }],
  ['db:example.com', { problem: '"example.com" is not an IP address (or host-gateway)' }],
]) {
  test(`parseExtraHost(${JSON.stringify(text)})`, (t) => t.deepEqual(parseExtraHost(text), entry));
}

const withWeb = (options) => {
  const raw = documentedConfig();
  Object.assign(raw.services.web, options);
  return raw;
};

test('the options are validated and parsed once: sizes in bytes, labels as a map, extra hosts as host:ip', (t) => {
  const { web } = validateConfig(
    withWeb({
      volumes: ['data:/data', '/etc/app:/etc/app:ro'],
      memory: '512m',
      cpus: '0.5',
      user: '1000:1000',
      labels: ['team=shopping', 'tier=front=end'],
      logging: { driver: 'json-file', options: { 'max-size': '10m' } },
      extraHosts: ['db=10.0.0.5'],
    }),
  ).services;
  t.deepEqual(web.volumes, [
    { type: 'volume', source: 'data', target: '/data', readOnly: false },
    { type: 'bind', source: '/etc/app', target: '/etc/app', readOnly: true },
  ]);
  t.is(web.memory, 512 * 1024 ** 2);
  t.is(web.cpus, 0.5);
  t.is(web.user, '1000:1000');
  t.deepEqual(web.labels, { team: 'shopping', tier: 'front=end' });
  t.deepEqual(web.logging, { driver: 'json-file', options: { 'max-size': '10m' } });
  t.deepEqual(web.extraHosts, ['db:10.0.0.5']);
  const { worker } = validateConfig(documentedConfig()).services;
  t.like(worker, { volumes: [], labels: {}, extraHosts: [] });
  t.is(worker.memory, undefined);
});

test('every invalid option is reported at once, each with its field path', (t) => {
  const error = t.throws(() =>
    validateConfig(
      withWeb({
        volumes: ['ok:/ok', './rel:/rel'],
        memory: '2m',
        cpus: 0,
        user: 'a b',
        labels: { 'pipeline.tag': 'x' },
        logging: { options: {} },
        extraHosts: ['nohost'],
        ulimits: {},
      }),
      'pipeline.config.ts',
    ),
  );
  t.is(error.name, 'ConfigError');
  t.false(error.message.includes('\n'));
  for (const part of [
    'services.web.volumes[1]: a host path must be absolute',
    'services.web.memory: must be at least 6m',
    'services.web.cpus: must be at least 0.01',
    'services.web.user: must be "user", "uid", "user:group" or "uid:gid"',
    'services.web.labels["pipeline.tag"]: the pipeline.* labels are the pipeline\'s own',
    'services.web.logging.driver: ',
    'services.web.extraHosts[0]: must be "host:ip"',
    'services.web.ulimits: unknown field',
  ])
    t.true(error.message.includes(part), `${part} in ${error.message}`);
});

test('the plan gives named volumes their Docker name, <project>_<name>, as Compose does; host paths stay', (t) => {
  const config = validateConfig(withWeb({ volumes: ['data:/data:ro', '/etc/app:/etc/app'], labels: { team: 'shopping' } }));
  const [web] = planDeploy(config, 'qa').hosts[0].services;
  t.deepEqual(web.options.volumes, [
    { type: 'volume', source: 'shopping-tool_data', target: '/data', readOnly: true },
    { type: 'bind', source: '/etc/app', target: '/etc/app', readOnly: false },
  ]);
  t.deepEqual(web.options.labels, { team: 'shopping' });
});

const plannedWeb = (options) => planDeploy(validateConfig(withWeb(options)), 'qa').hosts[0].services[0];

for (const [what, options, expected] of [
  ['nothing', {}, {}],
  ['volumes', { volumes: ['data:/data', '/etc/app:/etc/app:ro'] }, { Binds: ['shopping-tool_data:/data', '/etc/app:/etc/app:ro'] }],
  ['memory', { memory: '1g' }, { Memory: 1024 ** 3 }],
  ['cpus', { cpus: 1.5 }, { NanoCpus: 1_500_000_000 }],
  ['logging', { logging: { driver: 'syslog', options: { tag: 'web' } } }, { LogConfig: { Type: 'syslog', Config: { tag: 'web' } } }],
  ['logging without options', { logging: { driver: 'local' } }, { LogConfig: { Type: 'local', Config: {} } }],
  ['extra hosts', { extraHosts: ['db:10.0.0.5', 'cache=10.0.0.6'] }, { ExtraHosts: ['db:10.0.0.5', 'cache:10.0.0.6'] }],
]) {
  test(`hostConfig: ${what}`, (t) => t.deepEqual(hostConfig(plannedWeb(options).options), expected));
}

test("containerSpec: the user, and labels beside the pipeline's own, which win", (t) => {
  const web = plannedWeb({ user: 'node', labels: { team: 'shopping' }, memory: '512m' });
  const spec = containerSpec(web, 'app:develop', { DB_PASSWORD: 's' }, { 'pipeline.project': 'shopping-tool', 'pipeline.tag': 'develop' });
  t.is(spec.User, 'node');
  t.deepEqual(spec.Labels, { team: 'shopping', 'pipeline.project': 'shopping-tool', 'pipeline.tag': 'develop' });
  t.like(spec.HostConfig, { Memory: 512 * 1024 ** 2, RestartPolicy: { Name: 'no' }, PortBindings: { '8000/tcp': [{ HostPort: '8080' }] } });
  t.false('User' in containerSpec(plannedWeb({}), 'app:develop', {}, {}), "the image's user unless one is set");
});

test('oneOffSpec: as the service runs (env, secrets, options), with the command, no name and no published ports', (t) => {
  const web = plannedWeb({ volumes: ['data:/data'], user: 'node', extraHosts: ['db:10.0.0.5'] });
  const spec = oneOffSpec(web, 'app:develop', { DB_PASSWORD: 's' }, { 'pipeline.one-off': 'web release' }, ['npm', 'run', 'migrate']);
  t.is(spec.name, undefined);
  t.deepEqual(spec.Cmd, ['npm', 'run', 'migrate']);
  t.deepEqual(spec.Env.sort(), ['APP_ENV=qa', 'DB_PASSWORD=s']);
  t.is(spec.User, 'node');
  t.is(spec.ExposedPorts, undefined);
  t.deepEqual(spec.HostConfig, {
    PortBindings: {},
    RestartPolicy: { Name: 'no' },
    Binds: ['shopping-tool_data:/data'],
    ExtraHosts: ['db:10.0.0.5'],
  });
});
