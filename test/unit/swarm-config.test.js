import test from 'ava';
import { validateConfig } from '../../dist/config/schema.js';
import { documentedConfig } from '../fixtures/configs.js';

function withCluster(change = () => {}) {
  const raw = documentedConfig();
  raw.environments.cluster = {
    on: { branches: ['release/*'] },
    defaultTag: 'master',
    swarm: { manager: 'deploy@swarm-manager-1:22' },
    env: { APP_ENV: 'cluster' },
  };
  raw.services.web.replicas = 2;
  raw.services.worker.replicas = 3;
  change(raw);
  return raw;
}

test('a swarm environment, as the issue writes it, is valid and gets defaults', (t) => {
  const config = validateConfig(withCluster());
  t.deepEqual(config.environments.cluster.swarm, { manager: 'deploy@swarm-manager-1:22', publish: 'ingress', pullWithoutAuth: false });
  t.is(config.environments.cluster.hosts, undefined);
  t.is(config.services.web.replicas, 2);
  t.is(config.services.logstash.replicas, undefined, 'not set: 1 where it applies');
});

test('publish host and pullWithoutAuth are kept', (t) => {
  const config = validateConfig(
    withCluster((raw) => {
      raw.environments.cluster.swarm = { manager: 'm', publish: 'host', pullWithoutAuth: true };
    }),
  );
  t.deepEqual(config.environments.cluster.swarm, { manager: 'm', publish: 'host', pullWithoutAuth: true });
});

const invalid = [
  [
    'both hosts and swarm',
    (c) => {
      c.environments.cluster.hosts = { web: ['h1'] };
    },
    /environments\.cluster: has both hosts and swarm/,
  ],
  [
    'neither hosts nor swarm',
    (c) => {
      delete c.environments.cluster.swarm;
    },
    /environments\.cluster\.hosts: required \(or swarm: \{ manager \}\)/,
  ],
  [
    'a manager that is not a host',
    (c) => {
      c.environments.cluster.swarm.manager = 'a@b@c';
    },
    /environments\.cluster\.swarm\.manager: invalid host "a@b@c"/,
  ],
  [
    'a manager port out of range',
    (c) => {
      c.environments.cluster.swarm.manager = 'm:99999';
    },
    /environments\.cluster\.swarm\.manager: invalid host "m:99999": port must be/,
  ],
  [
    'no manager',
    (c) => {
      c.environments.cluster.swarm = {};
    },
    /environments\.cluster\.swarm\.manager: expected string, received undefined/,
  ],
  [
    'an unknown publish mode',
    (c) => {
      c.environments.cluster.swarm.publish = 'mesh';
    },
    /environments\.cluster\.swarm\.publish: /,
  ],
  [
    'pullWithoutAuth not a boolean',
    (c) => {
      c.environments.cluster.swarm.pullWithoutAuth = 'yes';
    },
    /environments\.cluster\.swarm\.pullWithoutAuth: expected boolean/,
  ],
  [
    'an unknown swarm field',
    (c) => {
      c.environments.cluster.swarm.managers = [];
    },
    /environments\.cluster\.swarm\.managers: unknown field/,
  ],
  [
    'zero replicas',
    (c) => {
      c.services.web.replicas = 0;
    },
    /services\.web\.replicas: /,
  ],
  [
    'fractional replicas',
    (c) => {
      c.services.web.replicas = 1.5;
    },
    /services\.web\.replicas: /,
  ],
  [
    'replicas for a redeploy: false service',
    (c) => {
      c.services.logstash.replicas = 2;
    },
    /services\.logstash\.replicas: a redeploy: false service runs once on every node of its roles/,
  ],
];

for (const [what, change, message] of invalid) {
  test(`rejects ${what}, naming the field`, (t) => {
    const error = t.throws(() => validateConfig(withCluster(change), 'pipeline.config.ts'));
    t.is(error.name, 'ConfigError');
    t.regex(error.message, message);
    t.false(error.message.includes('\n'), 'one line');
  });
}

test('two services of a swarm cannot publish the same port', (t) => {
  const error = t.throws(() =>
    validateConfig(
      withCluster((raw) => {
        raw.services.worker.ports = ['8080:9000'];
      }),
    ),
  );
  t.regex(error.message, /environments\.cluster\.hosts: services web and worker both publish port 8080\/tcp on the swarm/);
});

test('a deploy to a swarm reads the secrets of every service', async (t) => {
  const { secretVariables } = await import('../../dist/core/plan.js');
  const config = validateConfig(
    withCluster((raw) => {
      raw.services.worker.secrets = ['QUEUE_TOKEN'];
      raw.environments.cluster.secrets = { DB_URL: 'CLUSTER_DB_URL' };
    }),
  );
  t.deepEqual(secretVariables(config, ['cluster']).sort(), ['CLUSTER_DB_URL', 'QUEUE_TOKEN']);
});
