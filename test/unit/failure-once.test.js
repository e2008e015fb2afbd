// A failure is said once: the line renderers mark where it happened, the summary's row names its stage, and the
// CLI's last line says what went wrong. Runs the real CLI without Docker or SSH hosts: nothing here can connect.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Listr, ProcessOutput } from 'listr2';
import { LineLogger } from '../../dist/runner/line-logger.js';
import { CLI } from '../helpers/paths.js';

let dir;
test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pipeline-once-'));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\n');
  writeFileSync(
    join(dir, 'pipeline.config.json'),
    JSON.stringify({
      project: 'once',
      image: '127.0.0.1:5999/once/app',
      ssh: { knownHosts: join(dir, 'known_hosts') },
      environments: { qa: { defaultTag: 'develop', hosts: { web: ['deploy@127.0.0.1:1', 'deploy@127.0.0.1:2'] } } },
      services: { web: { roles: ['web'] } },
    }),
  );
  const git = (...args) => execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { cwd: dir });
  git('init', '-q', '-b', 'develop');
  git('add', '-A');
  git('commit', '-qm', 'app');
});
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function cli(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: dir,
      env: { ...process.env, CI: 'true', SSH_AUTH_SOCK: '', DOCKER_HOST: '', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const count = (text, part) => text.split(part).length - 1;

test('a preflight failure: each failed task marked once, the message once at the end, the summary row names the stage', async (t) => {
  const result = await cli(['deploy', 'qa']);
  t.is(result.code, 1);
  const message = 'preflight failed on 2 host(s)';
  t.is(count(result.stderr, message), 1, result.stderr);
  t.regex(result.stderr, /pipeline: preflight failed on 2 host\(s\): deploy@127\.0\.0\.1:1: .*; deploy@127\.0\.0\.1:2: /);
  for (const task of ['deploy@127.0.0.1:1', 'deploy@127.0.0.1:2', 'preflight', 'qa: develop to 2 host(s)', 'deploy: develop → qa']) {
    t.is(
      result.stderr.split('\n').filter((line) => line.includes('✖') && line.includes(`${task} [FAILED]`)).length,
      1,
      `${task} marked once`,
    );
  }
  t.regex(result.stdout, /^deploy +failure +\S+ +preflight failed on 2 host\(s\)/m, 'the summary row keeps its stage');
  t.is(count(result.stdout, message), 1);
});

test('a missing engine: said once at the end and once in the summary', async (t) => {
  const result = await cli(['run'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
  t.is(result.code, 1);
  const message = 'no Docker engine is reachable';
  t.is(count(result.stderr, message), 1, result.stderr);
  t.regex(result.stderr, /✖ .*build \[FAILED\]/);
  t.regex(result.stdout, /^build +failure +\S+ +no Docker engine is reachable/m);
  t.is(count(result.stdout, message), 1);
});

test('the line logger marks a failure on the task and every task above it without repeating the message', async (t) => {
  let text = '';
  const sink = {
    write: (chunk) => {
      text += chunk;
      return true;
    },
  };
  const logger = new LineLogger({ useIcons: false, processOutput: new ProcessOutput(sink, sink) });
  const list = new Listr(
    [
      {
        title: 'outer',
        task: (_c, task) =>
          task.newListr([
            {
              title: 'inner',
              task: () => {
                throw new Error('the reason');
              },
            },
          ]),
      },
    ],
    { renderer: 'simple', rendererOptions: { logger } },
  );
  await t.throwsAsync(list.run(), { message: 'the reason' });
  t.false(text.includes('the reason'), text);
  t.regex(text, /inner \[FAILED\]/);
  t.regex(text, /outer \[FAILED\]/);
});
