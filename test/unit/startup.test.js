import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import test from 'ava';
import { CLI, ROOT } from '../helpers/paths.js';

const run = promisify(execFile);
const cli = (args, env = {}) => run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });

test('--version without the parser prints the package version', async (t) => {
  const { version } = JSON.parse(await readFile(`${ROOT}/package.json`, 'utf8'));
  t.is((await cli(['--version'])).stdout, `${version}\n`);
  t.is((await cli(['--version'], { PIPELINE_FULL_PARSER: '1' })).stdout, `${version}\n`);
});

test('the pre-rendered --help is what the parser prints', async (t) => {
  const fast = (await cli(['--help'])).stdout;
  t.is(fast, (await cli(['--help'], { PIPELINE_FULL_PARSER: '1' })).stdout);
  for (const command of ['run', 'deploy', 'plan', 'status', 'rollback', 'lock', 'promote', 'config'])
    t.regex(fast, new RegExp(`pipeline ${command}`));
});
