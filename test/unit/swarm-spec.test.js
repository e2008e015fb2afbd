import test from 'ava';
import { validateConfig } from '../../dist/config/schema.js';
import { newRelease } from '../../dist/core/release.js';
import {
  endpointSpec,
  HTTP_PROBE,
  healthCheckSpec,
  monitorMs,
  nodeNames,
  placementConstraints,
  placementProblems,
  planSwarm,
  rolloutConfig,
  serviceImageOf,
  serviceSpec,
  serviceUrls,
  specImage,
} from '../../dist/core/swarm-spec.js';
import { documentedConfig } from '../fixtures/configs.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

function swarmConfig(swarm = {}) {
  const raw = documentedConfig();
  raw.environments = {
    cluster: {
      on: { branches: ['release/*'] },
      defaultTag: 'master',
      swarm: { manager: 'deploy@swarm-manager-1:22', ...swarm },
      env: { APP_ENV: 'cluster' },
    },
  };
  raw.services.web = {
    ...raw.services.web,
    replicas: 2,
    healthcheck: { http: { path: '/health', port: 8000 }, interval: '1s', timeout: '2s', retries: 3 },
  };
  raw.services.worker = { ...raw.services.worker, replicas: 3, secrets: ['API_KEY'] };
  return validateConfig(raw);
}

const node = (id, role, extra = {}) => ({
  id,
  hostname: `node-${id}`,
  address: `10.0.0.${id.length}`,
  ...(role ? { role } : {}),
  available: true,
  ...extra,
});
const NODES = [node('a', 'web'), node('bb', 'web'), node('ccc', 'worker'), node('dddd')];

test('planSwarm: one service per pipeline service, named <project>_<service>, replicas default 1', (t) => {
  const plan = planSwarm(swarmConfig(), 'cluster');
  t.is(plan.manager.id, 'deploy@swarm-manager-1');
  t.is(plan.publish, 'ingress');
  t.false(plan.pullWithoutAuth);
  t.is(plan.network, 'shopping-tool_default');
  t.deepEqual(
    plan.services.map((s) => [s.container, s.replicas, s.roles]),
    [
      ['shopping-tool_web', 2, ['web']],
      ['shopping-tool_worker', 3, ['worker']],
      ['shopping-tool_logstash', 1, ['web', 'worker']],
    ],
  );
  t.deepEqual(plan.services[0].env, { APP_ENV: 'cluster' });
});

const constraintCases = [
  ['one role', ['web'], NODES, ['node.labels.role==web']],
  [
    'several roles: every other role and every node without one is excluded',
    ['web', 'worker'],
    [...NODES, node('e', 'db')],
    ['node.labels.role!=db', 'node.id!=dddd'],
  ],
  ['several roles that are all the swarm has', ['web', 'worker'], NODES.slice(0, 3), []],
  [
    'a role label no constraint can name is excluded by node id',
    ['web', 'worker'],
    [...NODES.slice(0, 3), node('f', 'odd value')],
    ['node.id!=f'],
  ],
];
for (const [name, roles, nodes, expected] of constraintCases) {
  test(`placementConstraints: ${name}`, (t) => t.deepEqual(placementConstraints(roles, nodes), expected));
}

const problemCases = [
  ['every role has a node', 'host', NODES, []],
  [
    'a role no node has',
    'ingress',
    [node('a', 'web')],
    [/no available node has the label role=worker \(for worker, logstash\): docker node update --label-add role=worker NODE/],
  ],
  ['a drained node does not count', 'ingress', [node('a', 'web'), node('b', 'worker', { available: false })], [/role=worker/]],
  [
    'more host-mode replicas than nodes',
    'host',
    [node('a', 'web'), node('c', 'worker')],
    [/web: 2 replicas publish 8080:8000 in host mode, but 1 node\(s\) have its roles/],
  ],
  ['ingress spreads a port over every node', 'ingress', [node('a', 'web'), node('c', 'worker')], []],
];
for (const [name, publish, nodes, expected] of problemCases) {
  test(`placementProblems: ${name}`, (t) => {
    const problems = placementProblems({ ...planSwarm(swarmConfig(), 'cluster'), publish }, nodes);
    t.is(problems.length, expected.length, problems.join('; '));
    expected.forEach((pattern, i) => {
      t.regex(problems[i], pattern);
    });
  });
}

const rolloutCases = [
  ['a host-mode port: stop-first', { ports: ['8080:8000'], startPeriodMs: 1000 }, 'host', { Order: 'stop-first', Monitor: 5e9 }],
  ['ingress: start-first', { ports: ['8080:8000'], startPeriodMs: 1000 }, 'ingress', { Order: 'start-first', Monitor: 5e9 }],
  ['no port: start-first', { ports: [], startPeriodMs: 1000 }, 'host', { Order: 'start-first', Monitor: 5e9 }],
  [
    'Monitor outlasts the health check',
    { ports: [], startPeriodMs: 1000, healthcheck: { interval: 1000, timeout: 2000, retries: 15, startPeriod: 5000 } },
    'host',
    { Order: 'start-first', Monitor: 51e9 },
  ],
  ['a long start period', { ports: [], startPeriodMs: 20_000 }, 'host', { Order: 'start-first', Monitor: 20e9 }],
];
for (const [name, svc, publish, expected] of rolloutCases) {
  test(`rolloutConfig: ${name}, every field set`, (t) => {
    t.deepEqual(rolloutConfig(svc, publish), { Parallelism: 1, Delay: 0, FailureAction: 'rollback', MaxFailureRatio: 0, ...expected });
  });
}

test("monitorMs is never below Swarm's 5 s default", (t) => t.is(monitorMs({ startPeriodMs: 0 }), 5000));

const healthCases = [
  ['none', undefined, undefined],
  [
    'http: a GET from inside the container, the URL an argument',
    { http: { path: '/health?x=$(id)', port: 8000 }, interval: 500, timeout: 1000, retries: 5, startPeriod: 0 },
    {
      Test: ['CMD', 'sh', '-c', HTTP_PROBE, 'sh', 'http://127.0.0.1:8000/health?x=$(id)'],
      Interval: 5e8,
      Timeout: 1e9,
      Retries: 5,
      StartPeriod: 0,
    },
  ],
  [
    'a CMD-SHELL test as written',
    { test: ['CMD-SHELL', 'pg_isready'], interval: 1000, timeout: 2000, retries: 3, startPeriod: 4000 },
    { Test: ['CMD-SHELL', 'pg_isready'], Interval: 1e9, Timeout: 2e9, Retries: 3, StartPeriod: 4e9 },
  ],
  [
    'a plain argv becomes CMD',
    { test: ['redis-cli', 'ping'], interval: 1000, timeout: 2000, retries: 3, startPeriod: 0 },
    { Test: ['CMD', 'redis-cli', 'ping'], Interval: 1e9, Timeout: 2e9, Retries: 3, StartPeriod: 0 },
  ],
];
for (const [name, check, expected] of healthCases) {
  test(`healthCheckSpec: ${name} (durations in nanoseconds)`, (t) => t.deepEqual(healthCheckSpec(check), expected));
}

const endpointCases = [
  [
    'host mode: DNS round robin, no VIP',
    ['8080:8000', '9000/udp'],
    'host',
    {
      Mode: 'dnsrr',
      Ports: [
        { Protocol: 'tcp', TargetPort: 8000, PublishedPort: 8080, PublishMode: 'host' },
        { Protocol: 'udp', TargetPort: 9000, PublishMode: 'host' },
      ],
    },
  ],
  [
    'ingress: the routing mesh',
    ['8080:8000'],
    'ingress',
    { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 8000, PublishedPort: 8080, PublishMode: 'ingress' }] },
  ],
  ['no ports', [], 'ingress', { Mode: 'vip', Ports: [] }],
];
for (const [name, ports, publish, expected] of endpointCases) {
  test(`endpointSpec: ${name}`, (t) => t.deepEqual(endpointSpec(ports, publish), expected));
}

test('serviceSpec: the digest-pinned release, env and secrets, labels, placement, network and every rollout field', (t) => {
  const plan = planSwarm(swarmConfig({ publish: 'host' }), 'cluster');
  const release = newRelease('registry.example.com/allume/shopping-tool', 'release1', { digest: DIGEST, commit: 'c0ffee' });
  const worker = plan.services.find((s) => s.service === 'worker');
  const image = serviceImageOf(worker, release);
  const history = [{ image: 'registry.example.com/allume/shopping-tool:release0@sha256:00', tag: 'release0' }];
  const spec = serviceSpec(worker, {
    project: 'shopping-tool',
    publish: 'host',
    image,
    nodes: NODES,
    networkId: 'net1',
    secretEnv: { API_KEY: 's3cret' },
    deployedBy: 'ci@runner',
    deployedAt: '2024-01-01T00:00:00Z',
    history,
  });
  t.is(spec.Name, 'shopping-tool_worker');
  t.is(spec.TaskTemplate.ContainerSpec.Image, `registry.example.com/allume/shopping-tool:release1@${DIGEST}`);
  t.deepEqual(spec.TaskTemplate.ContainerSpec.Args, ['node', 'worker.js']);
  t.deepEqual(spec.TaskTemplate.ContainerSpec.Env, ['APP_ENV=cluster', 'QUEUE=default', 'API_KEY=s3cret']);
  t.is(spec.TaskTemplate.ContainerSpec.StopGracePeriod, 10e9);
  t.is(spec.TaskTemplate.ContainerSpec.HealthCheck, undefined, "no health check: the image's own counts");
  t.deepEqual(spec.TaskTemplate.Placement.Constraints, ['node.labels.role==worker']);
  t.deepEqual(spec.TaskTemplate.Networks, [{ Target: 'net1', Aliases: ['worker'] }]);
  t.deepEqual(spec.Mode, { Replicated: { Replicas: 3 } });
  t.deepEqual(spec.Labels, {
    'com.docker.stack.namespace': 'shopping-tool',
    'com.docker.stack.image': 'registry.example.com/allume/shopping-tool:release1',
    'pipeline.project': 'shopping-tool',
    'pipeline.service': 'worker',
    'pipeline.environment': 'cluster',
    'pipeline.tag': 'release1',
    'pipeline.commit': 'c0ffee',
    'pipeline.digest': DIGEST,
    'pipeline.deployed-by': 'ci@runner',
    'pipeline.deployed-at': '2024-01-01T00:00:00Z',
    'pipeline.history': JSON.stringify(history),
  });
  t.is(spec.TaskTemplate.ContainerSpec.Labels['pipeline.tag'], 'release1');
  t.is(spec.TaskTemplate.ContainerSpec.Labels['com.docker.stack.namespace'], 'shopping-tool');
  t.deepEqual(spec.RollbackConfig, { ...spec.UpdateConfig, FailureAction: 'pause' });
  t.is(spec.EndpointSpec.Mode, 'dnsrr');
  t.false('ForceUpdate' in spec.TaskTemplate);
});

test('serviceSpec: a redeploy: false service is global on the nodes of its roles; forceUpdate replaces its tasks', (t) => {
  const plan = planSwarm(swarmConfig(), 'cluster');
  const logstash = plan.services.find((s) => s.service === 'logstash');
  const image = serviceImageOf(logstash, newRelease('registry.example.com/allume/shopping-tool', 'x', { digest: DIGEST }), DIGEST);
  t.is(image.image, `docker.elastic.co/logstash/logstash:7.17.0@${DIGEST}`);
  t.is(image.tag, '7.17.0');
  const spec = serviceSpec(logstash, {
    project: 'shopping-tool',
    publish: 'ingress',
    image,
    nodes: [...NODES, node('e', 'db')],
    networkId: 'n',
    secretEnv: {},
    deployedBy: 'x',
    deployedAt: 'y',
    history: [],
    forceUpdate: 2,
  });
  t.deepEqual(spec.Mode, { Global: {} });
  t.deepEqual(spec.TaskTemplate.Placement.Constraints, ['node.labels.role!=db', 'node.id!=dddd']);
  t.is(spec.TaskTemplate.ForceUpdate, 2);
});

test('serviceImageOf: a third-party image without a digest keeps its tag', (t) => {
  const logstash = planSwarm(swarmConfig(), 'cluster').services.find((s) => s.service === 'logstash');
  t.deepEqual(serviceImageOf(logstash, newRelease('r.example.com/a', 'x')), {
    image: 'docker.elastic.co/logstash/logstash:7.17.0',
    tag: '7.17.0',
  });
});

test('specImage reads what a spec runs from its image and labels', (t) => {
  t.deepEqual(
    specImage({
      Labels: { 'pipeline.tag': 'develop', 'pipeline.commit': 'abc' },
      TaskTemplate: { ContainerSpec: { Image: `r/a:develop@${DIGEST}` } },
    }),
    { image: `r/a:develop@${DIGEST}`, tag: 'develop', digest: DIGEST, commit: 'abc' },
  );
  t.deepEqual(specImage({ TaskTemplate: { ContainerSpec: { Image: 'nginx' } } }), { image: 'nginx', tag: 'latest' });
  t.is(specImage(undefined), undefined);
});

test('nodeNames: hostnames, with the address where they repeat', (t) => {
  const names = nodeNames([
    { id: '1', hostname: 'vm', address: '10.0.0.1' },
    { id: '2', hostname: 'vm', address: '10.0.0.2' },
    { id: '3', hostname: 'db-1', address: '10.0.0.3' },
  ]);
  t.deepEqual([...names.values()], ['vm (10.0.0.1)', 'vm (10.0.0.2)', 'db-1']);
});

test('serviceUrls: host mode on each node of a task, ingress on the manager', (t) => {
  const plan = planSwarm(swarmConfig({ publish: 'host' }), 'cluster');
  const nodes = [node('a', 'web'), node('bb', 'web')];
  t.deepEqual(
    serviceUrls(
      plan,
      new Map([
        ['web', ['a', 'bb']],
        ['worker', ['a']],
      ]),
      nodes,
    ),
    [
      { host: 'node-a', service: 'web', url: 'http://10.0.0.1:8080/health' },
      { host: 'node-bb', service: 'web', url: 'http://10.0.0.2:8080/health' },
    ],
  );
  t.deepEqual(serviceUrls({ ...plan, publish: 'ingress' }, new Map(), nodes), [
    { host: 'deploy@swarm-manager-1', service: 'web', url: 'http://swarm-manager-1:8080/health' },
  ]);
});
