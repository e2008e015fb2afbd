// `pipeline completion` and the start-up cost of the CLI: the real CLI as a child process, no Docker needed.

import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { CLI } from '../helpers/world.js';

const run = promisify(execFile);
const cli = (args, env = {}) => run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } });

test('completion prints a bash script that asks the CLI for completions', async (t) => {
  const { stdout } = await cli(['completion'], { SHELL: '/bin/bash' });
  t.regex(stdout, /^###-begin-pipeline-completions-###/m);
  t.regex(stdout, /pipeline --get-yargs-completions/);
  t.regex(stdout, /^complete .* -F _pipeline_yargs_completions pipeline$/m);
});

test('completion prints a zsh script under zsh', async (t) => {
  const { stdout } = await cli(['completion'], { SHELL: '/bin/zsh' });
  t.regex(stdout, /^#compdef pipeline$/m);
  t.regex(stdout, /compdef _pipeline_yargs_completions pipeline/);
});

test('the CLI suggests commands, options and stage names', async (t) => {
  const lines = async (...words) => (await cli(['--get-yargs-completions', ...words], { SHELL: '/bin/bash' })).stdout.split('\n');
  t.true((await lines('run', '--o')).includes('--only'));
  t.true((await lines('pipeline', '')).includes('promote'));
  t.deepEqual((await lines('pipeline', 'run', '--only', '')).filter(Boolean), ['checkout', 'build', 'test', 'push', 'resolve', 'deploy']);
  t.true((await lines('pipeline', 'promote', '--')).includes('--remote'));
});

test('the CLI suggests logs and exec, and their options', async (t) => {
  const lines = async (...words) => (await cli(['--get-yargs-completions', ...words], { SHELL: '/bin/bash' })).stdout.split('\n');
  const commands = await lines('pipeline', '');
  t.true(commands.includes('logs') && commands.includes('exec'));
  const logs = await lines('pipeline', 'logs', 'qa', '--');
  for (const option of ['--since', '--tail', '--follow', '--host']) t.true(logs.includes(option), option);
  const exec = await lines('pipeline', 'exec', 'qa', 'web', '--');
  for (const option of ['--host', '--new']) t.true(exec.includes(option), option);
  t.true((await lines('pipeline', 'run', '--sk')).includes('--skip-release'));
  t.true((await lines('pipeline', 'deploy', 'qa', '--sk')).includes('--skip-release'));
});

test('the bash script, sourced, completes `pipeline run --o` to --only', async (t) => {
  // The script runs `pipeline` from PATH, as it will once installed.
  const bin = await mkdtemp(join(tmpdir(), 'pipeline-bin-'));
  t.teardown(() => rm(bin, { recursive: true, force: true }));
  await writeFile(join(bin, 'pipeline'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  await chmod(join(bin, 'pipeline'), 0o755);
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, SHELL: '/bin/bash' };
  const script =
    'source <(pipeline completion); COMP_WORDS=(pipeline run --o); COMP_CWORD=2; _pipeline_yargs_completions; printf "%s\\n" "${COMPREPLY[@]}"';
  const { stdout } = await run('bash', ['-c', script], { env });
  t.is(stdout, '--only\n');
});

test('--version loads neither the parser, simple-git nor the commands', async (t) => {
  // A resolve hook lists every module the CLI loads: start-up time is paid on every CI step and every completion.
  const hook =
    'export async function resolve(s, c, next) { const r = await next(s, c); process.stderr.write(`LOADED ${r.url}\\n`); return r; }';
  const register = `import { register } from "node:module"; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
  const { stdout, stderr } = await run(process.execPath, [
    '--import',
    `data:text/javascript,${encodeURIComponent(register)}`,
    CLI,
    '--version',
  ]);
  t.regex(stdout, /^\d+\.\d+\.\d+\n$/);
  t.regex(stderr, /LOADED .*\/errors\.js/, 'the hook sees what the CLI loads');
  t.notRegex(stderr, /\/yargs\/|simple-git|\/cli\/commands\.js|\/cli\/promote\.js/);
});
