// Secrets per environment: a run needs only the secrets of the environments it deploys; a secret can come from a
// differently named runner variable, reaches the container under its own name and is masked everywhere.
import test from 'ava';
import { inspect, pipeline, setUpExample, worldConfig, writeConfig } from '../helpers/world.js';

let world;
let repo;
let env;
let file;
const PROD_URL = 'postgres://prod:Pr0d-s3cret@db/prod';
const QA_URL = 'postgres://qa:Qa-s3cret-9f@db/qa';

test.before(async () => {
  ({ world, repo, env } = await setUpExample());
  const config = worldConfig(world);
  config.environments.qa.secrets = { DATABASE_URL: 'QA_DATABASE_URL' };
  config.environments.production.secrets = { DATABASE_URL: 'PROD_DATABASE_URL' };
  config.test.command = ['sh', '-c', 'echo "url $QA_DATABASE_URL"; node --test'];
  config.test.env.QA_DATABASE_URL = QA_URL;
  file = await writeConfig(repo, config, 'secrets.json');
});

test.after.always(async () => {
  await repo?.cleanup();
});

const runIn = (args, extraEnv = {}) => pipeline(['--config', file, ...args], { cwd: repo.work, env: { ...env, ...extraEnv } });

test.serial("a feature branch builds, tests and pushes without any environment's secrets", async (t) => {
  await repo.git('checkout', '-q', 'feature/x');
  const result = await runIn(['run']);
  t.is(result.code, 0, result.output);
  t.regex(result.output, /nothing is deployed for branch feature\/x/);
});

test.serial("develop needs qa's secret, not production's; a mapped secret reaches the container under its own name, masked", async (t) => {
  await repo.git('checkout', '-q', 'develop');
  const missing = await runIn(['run']);
  t.is(missing.code, 2);
  t.is(missing.stderr.trim(), 'pipeline: secret not set in the environment: QA_DATABASE_URL');

  const result = await runIn(['run'], { QA_DATABASE_URL: QA_URL, PROD_DATABASE_URL: PROD_URL });
  t.is(result.code, 0, result.output);
  t.regex(result.output, /url \*\*\*/, 'the test printed the value: masked');
  t.false(result.output.includes(QA_URL));
  t.false(result.output.includes('Qa-s3cret-9f'), 'no part of it either once URL-encoded or in plain');
  const webEnv = (await inspect(world.engines[0], 'shopping-tool-web')).Config.Env;
  t.true(webEnv.includes(`DATABASE_URL=${QA_URL}`), "qa's value under the name the app reads");
  t.false(
    webEnv.some((entry) => entry.startsWith('QA_DATABASE_URL=') || entry.includes(PROD_URL)),
    "neither the runner's name nor production's value",
  );
});

test.serial("pipeline deploy production asks for production's secret only", async (t) => {
  const missing = await runIn(['deploy', 'production', '--docker-tag', 'develop'], { QA_DATABASE_URL: '' });
  t.is(missing.code, 2);
  t.is(missing.stderr.trim(), 'pipeline: secret not set in the environment: PROD_DATABASE_URL');
});
