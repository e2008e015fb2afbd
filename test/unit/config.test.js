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
  [
    'a wrong type',
    (c) => {
      c.ssh.port = '22';
    },
    /ssh\.port: expected number, received string/,
  ],
  [
    'an unknown key',
    (c) => {
      c.environments.qa.host = {};
    },
    /environments\.qa\.host: unknown field/,
  ],
  [
    'an unknown top-level key',
    (c) => {
      c.deploy = {};
    },
    /deploy: unknown field/,
  ],
  [
    'a role with no hosts',
    (c) => {
      c.environments.qa.hosts.web = [];
    },
    /environments\.qa\.hosts\.web: a role needs at least one host/,
  ],
  [
    'a service with no roles',
    (c) => {
      c.services.worker.roles = [];
    },
    /services\.worker\.roles: a service needs at least one role/,
  ],
  [
    'a role no service has',
    (c) => {
      c.environments.qa.hosts.cron = ['h'];
    },
    /environments\.qa\.hosts\.cron: no service has the role "cron"/,
  ],
  [
    'an image with a tag',
    (c) => {
      c.image = 'registry.example.com/allume/shopping-tool:latest';
    },
    /image: must not carry a tag/,
  ],
  [
    'a bad port mapping',
    (c) => {
      c.services.web.ports = ['eighty'];
    },
    /services\.web\.ports\[0\]: must be "HOST:CONTAINER"/,
  ],
  [
    'a bad duration',
    (c) => {
      c.services.web.stopGracePeriod = 'ten';
    },
    /services\.web\.stopGracePeriod: must be a duration/,
  ],
  [
    'an alias that is another environment',
    (c) => {
      c.environments.qa.aliases = ['uat'];
    },
    /environments\.qa\.aliases: "uat" is already the name of environment uat/,
  ],
  [
    'no project',
    (c) => {
      delete c.project;
    },
    /project: expected string, received undefined/,
  ],
  [
    'an empty test command',
    (c) => {
      c.test.command = [];
    },
    /test\.command: must name a program/,
  ],
  // Every environment is checked, not only the one a branch deploys: production's hosts fail a feature-branch build.
  [
    'a host with two @ in an environment no branch deploys here',
    (c) => {
      c.environments.production.hosts.web = ['deploy@@prod-1'];
    },
    /environments\.production\.hosts\.web\[0\]: invalid host "deploy@@prod-1": expected host, user@host, host:port or user@host:port/,
  ],
  [
    'a host port out of range',
    (c) => {
      c.environments.uat.hosts.worker = ['uat-1', 'uat-2:70000'];
    },
    /environments\.uat\.hosts\.worker\[1\]: invalid host "uat-2:70000": port must be a number from 1 to 65535/,
  ],
  [
    'a host with port 0',
    (c) => {
      c.environments.qa.hosts.web = ['qa-web-1:0'];
    },
    /environments\.qa\.hosts\.web\[0\]: invalid host "qa-web-1:0": port must be/,
  ],
  [
    'a host with an empty port',
    (c) => {
      c.environments.qa.hosts.web = ['qa-web-1:'];
    },
    /environments\.qa\.hosts\.web\[0\]: invalid host "qa-web-1:"/,
  ],
  [
    'a host with a space',
    (c) => {
      c.environments.qa.hosts.web = ['qa web'];
    },
    /environments\.qa\.hosts\.web\[0\]: invalid host "qa web"/,
  ],
  [
    'a host listed twice under a role',
    (c) => {
      c.environments.production.hosts.worker = ['prod-worker-1', 'deploy@prod-worker-1:22'];
    },
    /environments\.production\.hosts\.worker\[1\]: "deploy@prod-worker-1:22" is the same host as "prod-worker-1"/,
  ],
  [
    'a published port above 65535',
    (c) => {
      c.services.web.ports = ['99999:80'];
    },
    /services\.web\.ports\[0\]: host port 99999 must be from 1 to 65535/,
  ],
  [
    'a container port above 65535',
    (c) => {
      c.services.web.ports = ['8080:65536'];
    },
    /services\.web\.ports\[0\]: container port 65536 must be from 1 to 65535/,
  ],
  [
    'a port 0',
    (c) => {
      c.services.web.ports = ['8080:8000', '0/udp'];
    },
    /services\.web\.ports\[1\]: container port 0 must be from 1 to 65535/,
  ],
  [
    'a port mapping listed twice',
    (c) => {
      c.services.web.ports = ['8080:8000', '8080:8000'];
    },
    /services\.web\.ports\[1\]: "8080:8000" is listed twice/,
  ],
  [
    'two services publishing one host port on one host',
    (c) => {
      c.services.worker.ports = ['8080:9000'];
      c.environments.uat.hosts = { web: ['uat-1'], worker: ['deploy@uat-1'] };
    },
    /environments\.uat\.hosts: services web and worker both publish port 8080\/tcp on deploy@uat-1/,
  ],
  [
    'an alias that is the embedded local environment',
    (c) => {
      c.environments.qa.aliases = ['local'];
    },
    /environments\.qa\.aliases: "local" is the name of the embedded local environment/,
  ],
  [
    'an alias of two environments',
    (c) => {
      c.environments.uat.aliases = ['stage'];
    },
    /environments\.uat\.aliases: "stage" is already an alias of environment qa/,
  ],
  [
    'an alias listed twice',
    (c) => {
      c.environments.qa.aliases = ['stage', 'stage'];
    },
    /environments\.qa\.aliases: "stage" is listed twice/,
  ],
  [
    'an alias that is not a name',
    (c) => {
      c.environments.qa.aliases = ['the stage'];
    },
    /environments\.qa\.aliases\[0\]: must be letters, digits/,
  ],
  [
    'a role name that is not a name',
    (c) => {
      c.environments.qa.hosts['web server'] = ['h'];
    },
    /environments\.qa\.hosts\["web server"\]: not a valid name: must be letters, digits/,
  ],
  [
    'an environment name that is not a name',
    (c) => {
      c.environments['eu prod'] = c.environments.production;
    },
    /environments\["eu prod"\]: not a valid name/,
  ],
  [
    'a service role that is not a name',
    (c) => {
      c.services.worker.roles = ['work/er'];
    },
    /services\.worker\.roles\[0\]: must be letters, digits/,
  ],
  [
    'a service role listed twice',
    (c) => {
      c.services.worker.roles = ['worker', 'worker'];
    },
    /services\.worker\.roles\[1\]: "worker" is listed twice/,
  ],
  [
    'a secret name that is not a variable name',
    (c) => {
      c.environments.production.secrets = ['DATABASE-URL'];
    },
    /environments\.production\.secrets\[0\]: must be an environment variable name/,
  ],
  [
    'a secret name starting with a digit',
    (c) => {
      c.services.web.secrets = ['1PASSWORD'];
    },
    /services\.web\.secrets\[0\]: must be an environment variable name/,
  ],
  [
    'a secret listed twice',
    (c) => {
      c.services.web.secrets = ['API_KEY', 'API_KEY'];
    },
    /services\.web\.secrets\[1\]: "API_KEY" is listed twice/,
  ],
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

test("reports bad hosts and ports of every environment together, with the schema's other problems", (t) => {
  const raw = documentedConfig();
  raw.environments.production.hosts.web = ['deploy@@prod-1'];
  raw.services.web.ports = ['99999:80'];
  raw.environments.qa.hosts['bad role'] = ['h'];
  raw.ssh.port = 'x';
  const { message } = t.throws(() => validateConfig(raw, 'pipeline.config.ts'));
  t.is(
    message,
    'invalid configuration in pipeline.config.ts: ssh.port: expected number, received string; ' +
      'environments.qa.hosts["bad role"]: not a valid name: must be letters, digits, "_", "." or "-", starting with a letter or digit; ' +
      'environments.production.hosts.web[0]: invalid host "deploy@@prod-1": expected host, user@host, host:port or user@host:port; ' +
      'services.web.ports[0]: host port 99999 must be from 1 to 65535',
  );
});

const validPorts = ['80', '8080:8000', '53:53/udp', '1:65535', '65535:1/tcp'];
test('accepts ports from 1 to 65535 on both sides', (t) => {
  const raw = documentedConfig();
  raw.services.web.ports = validPorts;
  t.deepEqual(validateConfig(raw).services.web.ports, validPorts);
});

test('one host port may be published by two services on different hosts, or over tcp and udp', (t) => {
  const raw = documentedConfig();
  raw.services.worker.ports = ['8080:9000', '53:53/udp'];
  raw.services.web.ports = ['8080:8000', '53:53'];
  raw.environments.uat.hosts = { web: ['uat-1'], worker: ['uat-2'] };
  t.notThrows(() => validateConfig(raw), 'web and worker share no host');
  raw.services.worker.ports = ['8081:9000', '53:53/udp'];
  raw.environments.uat.hosts = { web: ['uat-1'], worker: ['uat-1'] };
  t.notThrows(() => validateConfig(raw), '53/tcp and 53/udp are two ports');
});

test('a host may serve two roles, and a user-defined local environment may be aliased', (t) => {
  const raw = documentedConfig();
  raw.environments.uat.hosts = { web: ['uat-1'], worker: ['uat-1'] };
  raw.environments.local = { aliases: ['laptop'], hosts: { web: ['local'], worker: ['local'] } };
  t.deepEqual(validateConfig(raw).environments.local.aliases, ['laptop']);
});
