// CLI conventions and configuration errors: the real CLI as a child process, in a temp folder with a small config. No Docker needed.

import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { CLI, ROOT } from '../helpers/paths.js';

const config = {
  project: 'cli-test',
  image: 'registry.example.com/cli-test',
  registry: { server: 'registry.example.com', username: 'ci', password: 'hunter2-registry' },
  environments: { production: { on: { branches: ['master'] }, hosts: { web: ['deploy@prod-web-1'] } } },
  services: { web: { roles: ['web'], ports: ['8080:8000'] } },
};
const dir = join(tmpdir(), `pipeline-cli-${process.pid}`);
test.before(async () => {
  await mkdir(dir);
  await writeFile(join(dir, 'pipeline.config.json'), JSON.stringify(config));
});
test.after.always(() => rm(dir, { recursive: true, force: true }));

/** Runs the CLI in the temp folder; never rejects on a non-zero exit. */
function cli(args, env = {}) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: dir, env: { ...process.env, XDG_CACHE_HOME: join(dir, '.cache'), ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? error.code : 0, stdout, stderr });
      },
    );
  });
}

/** Writes a config file beside the default one and returns its name, for --config. */
async function configFile(name, content) {
  await writeFile(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  return name;
}

test('pipeline alone and pipeline help show the help, as --help does, and exit 0', async (t) => {
  const help = await cli(['--help']);
  t.regex(help.stdout, /^pipeline <command> \[options\]/);
  for (const args of [[], ['help']]) {
    for (const env of [{}, { PIPELINE_FULL_PARSER: '1' }]) {
      const result = await cli(args, env);
      t.is(result.code, 0, args.join(' '));
      t.is(result.stdout, help.stdout, `${args.join(' ') || '(no arguments)'} ${env.PIPELINE_FULL_PARSER ? 'parsed' : 'pre-rendered'}`);
      t.is(result.stderr, '');
    }
  }
  t.regex(help.stdout, /pipeline help COMMAND/, "the help says how to get a command's help");
});

test("pipeline help CMD shows that command's help", async (t) => {
  const run = await cli(['help', 'run']);
  t.is(run.code, 0);
  t.is(run.stdout, (await cli(['run', '--help'])).stdout);
  t.regex(run.stdout, /^pipeline run\n/);
  t.regex(run.stdout, /--only/);
  t.regex((await cli(['help', 'deploy'])).stdout, /^pipeline deploy <environment>/);
});

test('-v prints the version, as --version does', async (t) => {
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  t.is((await cli(['-v'])).stdout, `${version}\n`);
  t.is((await cli(['-v'], { PIPELINE_FULL_PARSER: '1' })).stdout, `${version}\n`);
});

const typos = [
  [['plna'], 'pipeline: unknown command "plna": did you mean plan? (pipeline --help lists the commands)'],
  [['deplyo', 'qa'], 'pipeline: unknown command "deplyo": did you mean deploy? (pipeline --help lists the commands)'],
  [['rn'], 'pipeline: unknown command "rn": did you mean run? (pipeline --help lists the commands)'],
  [['stauts', 'qa'], 'pipeline: unknown command "stauts": did you mean status? (pipeline --help lists the commands)'],
  [['help', 'rollbak'], 'pipeline: unknown command "rollbak": did you mean rollback? (pipeline --help lists the commands)'],
  [
    ['xyzzy'],
    'pipeline: unknown command "xyzzy": the commands are run, deploy, rollback, status, logs, exec, lock, plan, config, promote, completion',
  ],
];
for (const [args, message] of typos) {
  test(`pipeline ${args.join(' ')}: exit 2, one line${message.includes('did you mean') ? ' with a suggestion' : ''}`, async (t) => {
    const result = await cli(args);
    t.is(result.code, 2);
    t.is(result.stderr, `${message}\n`);
    t.is(result.stdout, '');
  });
}

test('an unknown command with --json ends with a result event', async (t) => {
  const result = await cli(['plna', '--json']);
  t.is(result.code, 2);
  t.like(JSON.parse(result.stdout.trim().split('\n').at(-1)), { type: 'result', status: 'failure', exitCode: 2 });
});

for (const option of ['only', 'skip']) {
  test(`run --${option} without a stage is a usage error, not a run of every stage`, async (t) => {
    for (const args of [
      ['run', `--${option}`],
      ['run', `--${option}`, '--branch', 'master'],
      ['run', '--renderer', 'simple', `--${option}`],
    ]) {
      const result = await cli(args);
      t.is(result.code, 2, args.join(' '));
      t.is(result.stderr, `pipeline: --${option} needs at least one stage: checkout, build, test, push, resolve, deploy\n`);
      t.notRegex(result.stdout, /checkout/, 'no stage ran');
    }
  });
}

test('config prints valid JSON with secrets redacted; --json prints nothing else', async (t) => {
  const plain = await cli(['config']);
  t.is(plain.code, 0, plain.stderr);
  const parsed = JSON.parse(plain.stdout);
  t.is(parsed.project, 'cli-test');
  t.is(parsed.registry.password, '***');
  t.deepEqual(Object.keys(parsed.environments), ['local', 'production']);
  t.is(plain.stderr, `# ${join(dir, 'pipeline.config.json')}\n`, 'the file it came from, for people, on stderr');
  const json = await cli(['config', '--json']);
  t.is(json.code, 0);
  t.deepEqual(JSON.parse(json.stdout), parsed);
  t.is(json.stderr, '');
  t.false(json.stdout.includes('hunter2-registry'));
});

const badConfigs = [
  [
    'a host of an environment no branch here deploys',
    'bad-host.json',
    { ...config, environments: { production: { on: { branches: ['master'] }, hosts: { web: ['deploy@@prod-1'] } } } },
    'pipeline: invalid configuration in bad-host.json: environments.production.hosts.web[0]: invalid host "deploy@@prod-1": expected host, user@host, host:port or user@host:port',
  ],
  [
    'a port out of range',
    'bad-port.json',
    { ...config, services: { web: { roles: ['web'], ports: ['99999:80'] } } },
    'pipeline: invalid configuration in bad-port.json: services.web.ports[0]: host port 99999 must be from 1 to 65535',
  ],
  [
    'a YAML syntax error',
    'bad.yaml',
    'project: cli-test\nimage: [registry.example.com/cli-test\n',
    'pipeline: syntax error in bad.yaml:3:1: unexpected end of the stream within a flow collection',
  ],
  [
    'a JSON syntax error',
    'bad.json',
    '{\n  "project": "cli-test",\n  "image": \'x\'\n}\n',
    "pipeline: syntax error in bad.json:3:12: Unexpected token '''",
  ],
  [
    'a TypeScript syntax error',
    'bad.config.ts',
    'export default {\n  project: "cli-test"\n  image: "x",\n};\n',
    "pipeline: syntax error in bad.config.ts:3:3: ',' expected",
  ],
  [
    'a TypeScript config that throws',
    'throws.config.ts',
    'export default {\n  project: "cli-test",\n  image: process.env.PIPELINE_TEST_UNSET!.split(":")[0],\n};\n',
    "pipeline: configuration threw in throws.config.ts:3:43: TypeError: Cannot read properties of undefined (reading 'split')",
  ],
  [
    'a JavaScript syntax error',
    'bad.config.mjs',
    'export default { project: "cli-test" image: "x" };\n',
    "pipeline: syntax error in bad.config.mjs:1:38: ',' expected",
  ],
];
for (const [what, name, content, message] of badConfigs) {
  test(`${what}: exit 2 with one line, whichever command runs`, async (t) => {
    const file = await configFile(name, content);
    for (const args of [['config'], ['run', '--branch', 'feature/x'], ['plan', '--offline']]) {
      const result = await cli([...args, '--config', file]);
      t.is(result.code, 2, args.join(' '));
      t.is(result.stderr, `${message}\n`, args.join(' '));
      t.is(result.stdout, '');
    }
  });
}
