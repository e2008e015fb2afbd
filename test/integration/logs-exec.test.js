// After a deploy: `pipeline logs` and `pipeline exec` across the hosts of a service, as a team uses them instead of SSH.

import { spawn } from 'node:child_process';
import test from 'ava';
import { CLI, pipeline, pipelineWatching, setUpExample, worldConfig, writeConfig } from '../helpers/world.js';

let world;
let repo;
let env;
let config;
let h1;
let h2;
const TOKEN = 'tok-3xample-S3cret';

test.before(async () => {
  ({ world, repo, env } = await setUpExample());
  env = { ...env, QA_API_TOKEN: TOKEN };
  [h1, h2] = world.hosts;
  const cfg = worldConfig(world);
  cfg.environments.qa.hosts = { web: [h1], worker: [h1, h2] };
  cfg.services.worker.secrets = { API_TOKEN: 'QA_API_TOKEN' };
  // The worker says where it runs and (wrongly) its token: a log must never show a secret.
  cfg.services.worker.command = ['sh', '-c', 'echo "worker up on $(hostname) with token $API_TOKEN" >&2; exec node worker.js'];
  cfg.services.worker.env = { QUEUE: 'default' };
  config = await writeConfig(repo, cfg, 'operate.json');
  const deployed = await runIn(['run']);
  if (deployed.code !== 0) throw new Error(`the deploy failed:\n${deployed.output}`);
});

test.after.always(async () => {
  await repo?.cleanup();
});

const runIn = (args, extra = {}) => pipeline(['--config', config, ...args], { cwd: repo.work, env: { ...env, ...extra } });
const lines = (text) => text.split('\n').filter(Boolean);
const id = (host) => `deploy@${host}`;

/** Runs a command in a container through the engine straight (to set up a case), to its end. */
async function execIn(engine, container, command) {
  const exec = await engine.getContainer(container).exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  stream.resume();
  await new Promise((resolve) => stream.on('end', resolve));
}

test.serial('logs of a service: every host, each line prefixed by it, in timestamp order, secrets masked', async (t) => {
  const result = await runIn(['logs', 'qa', 'worker', '--timestamps']);
  t.is(result.code, 0, result.output);
  t.false(result.output.includes(TOKEN), 'the secret is masked');
  for (const host of [h1, h2]) {
    t.regex(
      result.stderr,
      new RegExp(`^${id(host).replaceAll('.', '\\.')} +worker \\| \\S+Z worker up on .* with token \\*\\*\\*$`, 'm'),
      'stderr lines stay on stderr',
    );
    t.regex(
      result.stdout,
      new RegExp(`^${id(host).replaceAll('.', '\\.')} +worker \\| \\S+Z worker: consuming queue default \\(qa\\)$`, 'm'),
    );
  }
  const times = lines(result.stdout).map((line) =>
    line
      .split(' | ')[1]
      .split(' ')[0]
      .replace(/(\.\d+)?Z$/, (f) => `${(f.slice(0, -1) || '.').padEnd(10, '0')}Z`),
  );
  t.deepEqual(times, [...times].sort(), "merged by the Engine's timestamps");

  const tail = await runIn(['logs', 'qa', 'worker', '--tail', '1']);
  t.is(tail.code, 0, tail.output);
  t.is(lines(tail.output).length, 2, 'the last line of each host');
  const future = await runIn(['logs', 'qa', 'worker', '--since', '2099-01-01T00:00:00Z']);
  t.is(future.code, 0);
  t.is(future.output, '');
  const recent = await runIn(['logs', 'qa', 'worker', '--since', '1h', '--host', h2]);
  t.regex(recent.stdout, /worker: consuming queue default/);
  t.false(recent.output.includes(id(h1)), '--host keeps one host');
});

test.serial('logs of every service of an environment', async (t) => {
  const result = await runIn(['logs', 'qa']);
  t.is(result.code, 0, result.output);
  t.regex(result.stdout, new RegExp(`^${id(h1).replaceAll('.', '\\.')} +web +\\| web: listening on 8000 \\(qa\\)$`, 'm'));
  t.regex(result.stdout, new RegExp(`^${id(h2).replaceAll('.', '\\.')} +worker +\\| worker: consuming queue default`, 'm'));
});

test.serial('logs --follow prints lines as they come, from every host, until Ctrl-C', async (t) => {
  const seen = new Set();
  const result = await pipelineWatching(
    ['--config', config, 'logs', 'qa', 'worker', '--follow', '--tail', '0'],
    { cwd: repo.work, env },
    (line, child) => {
      // The worker says its queue is empty every 5 s: a line from each host, then stop.
      for (const host of [h1, h2]) if (line.startsWith(id(host)) && line.includes('is empty')) seen.add(host);
      if (seen.size === 2) child.kill('SIGINT');
    },
  );
  t.is(seen.size, 2, result.output);
  t.is(result.code, 130);
});

test.serial('exec runs in the running container on every host, output prefixed by host', async (t) => {
  const result = await runIn(['exec', 'qa', 'worker', '--', 'sh', '-c', 'echo "queue $QUEUE in $APP_ENV"']);
  t.is(result.code, 0, result.output);
  t.deepEqual(lines(result.stdout).sort(), [`${id(h1)} | queue default in qa`, `${id(h2)} | queue default in qa`]);
  const one = await runIn(['exec', 'qa', 'worker', '--host', h2, '--', 'echo', 'only here']);
  t.is(one.code, 0, one.output);
  t.deepEqual(lines(one.stdout), [`${id(h2)} | only here`]);
});

test.serial("exec fails when any host's command fails, naming the host and its exit code", async (t) => {
  await execIn(world.engines[1], 'shopping-tool-worker', ['touch', '/tmp/broken']);
  const result = await runIn([
    'exec',
    'qa',
    'worker',
    '--',
    'sh',
    '-c',
    'if [ -e /tmp/broken ]; then echo "cannot reach the queue" >&2; exit 3; fi; echo fine',
  ]);
  t.is(result.code, 1, result.output);
  t.regex(result.stdout, new RegExp(`^${id(h1).replaceAll('.', '\\.')} \\| fine$`, 'm'));
  t.regex(result.stderr, new RegExp(`^${id(h2).replaceAll('.', '\\.')} \\| cannot reach the queue$`, 'm'));
  t.regex(
    result.stderr,
    new RegExp(`^pipeline: sh -c .* failed on 1 of 2 host\\(s\\): ${id(h2).replaceAll('.', '\\.')}: exited with code 3$`, 'm'),
  );
});

test.serial(
  "exec --new runs in a one-off container of the current release, with the service's env and secrets, removed after",
  async (t) => {
    const running = (await world.engines[0].getContainer('shopping-tool-worker').inspect()).Config.Hostname;
    const result = await runIn([
      'exec',
      'qa',
      'worker',
      '--host',
      h1,
      '--new',
      '--',
      'sh',
      '-c',
      'echo "$QUEUE $APP_ENV $API_TOKEN $(hostname)"',
    ]);
    t.is(result.code, 0, result.output);
    const [line] = lines(result.stdout);
    t.regex(line, new RegExp(`^${id(h1).replaceAll('.', '\\.')} \\| default qa \\*\\*\\* \\w+$`));
    t.not(line.split(' ').at(-1), running, 'not the running container');
    const left = await world.engines[0].listContainers({ all: true, filters: { label: ['pipeline.one-off'] } });
    t.deepEqual(left, []);
    const missing = await pipeline(['--config', config, 'exec', 'qa', 'worker', '--new', '--', 'true'], {
      cwd: repo.work,
      env: { ...env, QA_API_TOKEN: '' },
    });
    t.is(missing.code, 2);
    t.is(missing.stderr.trim(), 'pipeline: secret not set in the environment: QA_API_TOKEN');
  },
);

test.serial('exec on a terminal with one host is interactive', async (t) => {
  // `script` gives the CLI a terminal, as a person at a keyboard has.
  const command = [process.execPath, CLI, '--config', config, 'exec', 'qa', 'worker', '--host', h1, '--', 'sh']
    .map((arg) => `'${arg}'`)
    .join(' ');
  const result = await new Promise((resolve) => {
    const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: repo.work, env });
    let stdout = '';
    let exited = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      // Typed before the command is attached, then once it has answered.
      if (!exited && /inside 42/.test(stdout)) {
        exited = true;
        child.stdin.write('exit 7\n');
      }
    });
    child.on('close', (code) => resolve({ code, stdout }));
    child.stdin.write('echo "inside $((40 + 2))"\n');
  });
  t.regex(result.stdout, /inside 42/);
  t.regex(result.stdout, new RegExp(`pipeline: sh failed on 1 of 1 host\\(s\\): ${id(h1).replaceAll('.', '\\.')}: exited with code 7`));
  t.is(result.code, 1);
});

test.serial('unknown services and hosts are usage errors; a service not running on a host fails naming it', async (t) => {
  const unknown = await runIn(['logs', 'qa', 'nope']);
  t.is(unknown.code, 2);
  t.is(unknown.stderr.trim(), 'pipeline: unknown service "nope"; services: web, worker, logstash');
  const host = await runIn(['exec', 'qa', 'web', '--host', h2, '--', 'true']);
  t.is(host.code, 2);
  t.is(host.stderr.trim(), `pipeline: host ${h2} is not a host of web in qa; its host is ${id(h1)}`);
  const noCommand = await runIn(['exec', 'qa', 'web']);
  t.is(noCommand.code, 2);

  await world.engines[1].getContainer('shopping-tool-worker').stop({ t: 1 });
  const stopped = await runIn(['exec', 'qa', 'worker', '--', 'echo', 'hello']);
  t.is(stopped.code, 1);
  t.regex(stopped.stdout, new RegExp(`^${id(h1).replaceAll('.', '\\.')} \\| hello$`, 'm'));
  t.regex(
    stopped.stderr,
    new RegExp(
      `^pipeline: echo hello failed on 1 of 2 host\\(s\\): ${id(h2).replaceAll('.', '\\.')}: worker is not running here \\(exited\\)$`,
      'm',
    ),
  );
  await world.engines[1].getContainer('shopping-tool-worker').remove({ force: true });
  const gone = await runIn(['logs', 'qa', 'worker']);
  t.is(gone.code, 1);
  t.regex(gone.stdout, /worker: consuming queue default/, "the other host's lines still come");
  t.regex(
    gone.stderr,
    new RegExp(`^pipeline: no logs from 1 of 2 container\\(s\\): ${id(h2).replaceAll('.', '\\.')}: worker is not deployed here$`, 'm'),
  );
});
