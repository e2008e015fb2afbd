import test from 'ava';
import { validateConfig } from '../../dist/config/schema.js';
import { allSecretVariables, planDeploy, secretVariables } from '../../dist/core/plan.js';
import { documentedConfig } from '../fixtures/configs.js';

function configWithSecrets() {
  const raw = documentedConfig();
  raw.environments.qa.secrets = ['DB_PASSWORD'];
  raw.environments.production.secrets = { DATABASE_URL: 'PROD_DATABASE_URL' };
  raw.services.worker.secrets = { QUEUE_TOKEN: 'QUEUE_TOKEN' };
  return validateConfig(raw);
}

test('the list form and the mapping form both become container name → runner variable', (t) => {
  const config = configWithSecrets();
  t.deepEqual(config.environments.qa.secrets, { DB_PASSWORD: 'DB_PASSWORD' });
  t.deepEqual(config.environments.production.secrets, { DATABASE_URL: 'PROD_DATABASE_URL' });
  t.deepEqual(config.environments.uat.secrets, {});
});

test("a service gets its environment's secrets and its own", (t) => {
  const config = configWithSecrets();
  const [, workerHost] = planDeploy(config, 'production').hosts;
  t.deepEqual(workerHost.services.find((s) => s.service === 'worker').secrets, {
    DATABASE_URL: 'PROD_DATABASE_URL',
    QUEUE_TOKEN: 'QUEUE_TOKEN',
  });
});

const required = [
  [[], []],
  [['qa'], ['DB_PASSWORD', 'QUEUE_TOKEN']],
  [['production'], ['PROD_DATABASE_URL', 'QUEUE_TOKEN']],
  [['uat'], ['QUEUE_TOKEN']],
  [
    ['qa', 'production'],
    ['DB_PASSWORD', 'QUEUE_TOKEN', 'PROD_DATABASE_URL'],
  ],
];
for (const [environments, variables] of required) {
  test(`a deploy to [${environments.join(', ')}] needs ${variables.join(', ') || 'no secret'}`, (t) => {
    t.deepEqual(secretVariables(configWithSecrets(), environments), variables);
  });
}

test('every secret variable of the config is masked, whatever deploys', (t) => {
  t.deepEqual(allSecretVariables(configWithSecrets()).sort(), ['DB_PASSWORD', 'PROD_DATABASE_URL', 'QUEUE_TOKEN']);
});

const invalid = [
  ['a name that is no variable', ['DB-PASSWORD'], /environments\.qa\.secrets/],
  ['a runner variable that is no variable', { DATABASE_URL: 'prod url' }, /environments\.qa\.secrets/],
  ['not a list or a mapping', 'DB_PASSWORD', /environments\.qa\.secrets/],
];
for (const [name, secrets, message] of invalid) {
  test(`secrets: ${name} is a config error`, (t) => {
    const raw = documentedConfig();
    raw.environments.qa.secrets = secrets;
    t.throws(() => validateConfig(raw), { message });
  });
}
