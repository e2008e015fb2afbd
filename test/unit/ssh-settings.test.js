// The `ssh` settings, top-level and per environment, as validation and the deploy plan see them.
import test from 'ava';
import { validateConfig } from '../../dist/config/schema.js';
import { planDeploy } from '../../dist/core/plan.js';
import { documentedConfig } from '../fixtures/configs.js';

const withSsh = (change) => {
  const raw = documentedConfig();
  change(raw);
  return raw;
};

test('unset ssh settings stay unset: the SSH config file and the defaults decide when connecting', (t) => {
  const config = validateConfig(
    withSsh((c) => {
      c.ssh = {};
    }),
  );
  t.deepEqual(config.ssh, {});
  t.deepEqual(
    planDeploy(config, 'production').hosts.map((host) => host.address.id),
    ['deploy@prod-web-1:2222', 'prod-worker-1'],
  );
  t.deepEqual(planDeploy(config, 'production').hosts[1].address, { kind: 'ssh', id: 'prod-worker-1', host: 'prod-worker-1' });
});

test("an environment's ssh settings apply to its hosts, key by key over the top level", (t) => {
  const config = validateConfig(
    withSsh((c) => {
      c.environments.production.ssh = {
        user: 'prod',
        port: 2200,
        identityFile: '~/.ssh/id_prod',
        knownHosts: './known_hosts.prod',
        config: './ssh_config',
      };
      c.environments.uat.ssh = { config: false };
    }),
  );
  t.deepEqual(config.environments.production.ssh, {
    user: 'prod',
    port: 2200,
    identityFile: '~/.ssh/id_prod',
    knownHosts: './known_hosts.prod',
    config: './ssh_config',
  });
  t.deepEqual(
    planDeploy(config, 'production').hosts.map((host) => host.address.id),
    ['deploy@prod-web-1:2222', 'prod@prod-worker-1:2200'],
    "the spec's own user and port win",
  );
  t.deepEqual(
    planDeploy(config, 'qa').hosts.map((host) => host.address.id),
    ['deploy@qa-web-1.example.com', 'deploy@qa-worker-1.example.com'],
    'other environments keep the top-level settings',
  );
  t.is(config.environments.uat.ssh.config, false);
});

test("the same host twice is found with the environment's own user", (t) => {
  const error = t.throws(() =>
    validateConfig(
      withSsh((c) => {
        c.ssh = {};
        c.environments.uat.ssh = { user: 'ops' };
        c.environments.uat.hosts.web = ['uat-1', 'ops@uat-1:22'];
      }),
    ),
  );
  t.regex(error.message, /environments\.uat\.hosts\.web\[1\]: "ops@uat-1:22" is the same host as "uat-1"/);
});

const invalid = [
  [
    'an environment ssh key the pipeline does not know',
    (c) => {
      c.environments.qa.ssh = { proxy: 'bastion' };
    },
    /environments\.qa\.ssh\.proxy: unknown field/,
  ],
  [
    'a passphrase per environment (one passphrase, top-level)',
    (c) => {
      c.environments.qa.ssh = { passphrase: 'x' };
    },
    /environments\.qa\.ssh\.passphrase: unknown field/,
  ],
  [
    'an environment port out of range',
    (c) => {
      c.environments.qa.ssh = { port: 70000 };
    },
    /environments\.qa\.ssh\.port: Too big: expected number to be <=65535/,
  ],
  [
    'an empty user',
    (c) => {
      c.environments.qa.ssh = { user: '' };
    },
    /environments\.qa\.ssh\.user: Too small/,
  ],
  [
    'config: true',
    (c) => {
      c.ssh.config = true;
    },
    /ssh\.config: must be the path of an SSH config file, or false for none/,
  ],
  [
    'an empty identityFile',
    (c) => {
      c.ssh.identityFile = '';
    },
    /ssh\.identityFile: Too small/,
  ],
  [
    'a knownHosts that is not a path',
    (c) => {
      c.environments.production.ssh = { knownHosts: 42 };
    },
    /environments\.production\.ssh\.knownHosts: expected string, received number/,
  ],
];
for (const [name, change, message] of invalid) {
  test(`invalid: ${name}`, (t) => {
    const error = t.throws(() => validateConfig(withSsh(change)));
    t.is(error.name, 'ConfigError');
    t.regex(error.message, message);
  });
}
