// Deploys that fail must fail clearly and leave what was running, running.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import Docker from 'dockerode';
import {
  commitOnBranch,
  hostHome,
  keptContainers,
  pipeline,
  pipelineWatching,
  projectContainers,
  pushBranches,
  registryTags,
  resetHosts,
  setUpExample,
  sshLogins,
  worldCommand,
  worldConfig,
  writeConfig,
} from '../helpers/world.js';

let world;
let repo;
let env;
let config;

test.before(async () => {
  ({ world, repo, env, config } = await setUpExample());
  // The release the tests below deploy besides develop, built and pushed by this file.
  await pushBranches({ world, repo, env, config }, ['feature/x']);
  // A healthy release on qa that every failure below must leave running.
  const result = await runIn(['run']);
  if (result.code !== 0) throw new Error(`the first deploy failed:\n${result.output}`);
});

test.after.always(async () => {
  await worldCommand('sshd-start', 'h2').catch(() => undefined);
  if (world) await resetHosts(world);
  await repo?.cleanup();
});

const runIn = (args, extraEnv = {}) => pipeline(['--config', config, ...args], { cwd: repo.work, env: { ...env, ...extraEnv } });
const running = async () =>
  Promise.all(
    [0, 1].map(async (index) =>
      Object.fromEntries(
        Object.entries(await projectContainers(world.engines[index])).map(([service, c]) => [service, `${c.Id.slice(0, 12)} ${c.State}`]),
      ),
    ),
  );
const lockPath = (index) => join(hostHome(index), '.pipeline/locks/shopping-tool-qa');

/** Leaves a lock on a host as another deploy would (owned by the deploy user, like its own files). */
async function placeLock(index, lock) {
  await mkdir(lockPath(index), { recursive: true });
  await writeFile(join(lockPath(index), 'lock.json'), JSON.stringify(lock));
  await promisify(execFile)('chown', ['-R', 'deploy:deploy', join(hostHome(index), '.pipeline')]);
}

async function assertQaUnchanged(t, before) {
  t.deepEqual(await running(), before, 'every container that ran before runs as before');
  t.false(existsSync(lockPath(0)) || existsSync(lockPath(1)), 'the lock is released');
}

test.serial('a host whose sshd is down fails preflight: exit 1 naming it, nothing changed anywhere', async (t) => {
  const before = await running();
  await worldCommand('sshd-stop', 'h2');
  try {
    const result = await runIn(['deploy', 'qa', '--docker-tag', 'feature/x']);
    t.is(result.code, 1, result.output);
    t.regex(
      result.stderr,
      new RegExp(
        `pipeline: preflight failed on 1 host\\(s\\): deploy@${world.hosts[1].replaceAll('.', '\\.')}: connection refused on port 22`,
      ),
    );
    await assertQaUnchanged(t, before);
  } finally {
    await worldCommand('sshd-start', 'h2');
  }
});

test.serial('a host key that does not match known_hosts is refused', async (t) => {
  const before = await running();
  const known = await readFile(world.knownHosts, 'utf8');
  const otherKey = known
    .split('\n')
    .find((line) => line.startsWith(`${world.hosts[1]} `))
    .split(' ')
    .slice(1)
    .join(' ');
  const forged = known
    .split('\n')
    .map((line) => (line.startsWith(`${world.hosts[0]} `) ? `${world.hosts[0]} ${otherKey}` : line))
    .join('\n');
  const knownHosts = join(repo.dir, 'known_hosts_forged');
  await writeFile(knownHosts, forged);
  const forgedConfig = worldConfig(world);
  forgedConfig.ssh.knownHosts = knownHosts;
  const result = await pipeline(['--config', await writeConfig(repo, forgedConfig, 'forged.json'), 'deploy', 'qa'], {
    cwd: repo.work,
    env,
  });
  t.is(result.code, 1);
  t.regex(result.stderr, /host key does not match .*known_hosts_forged \(possible man-in-the-middle attack\)/);
  await assertQaUnchanged(t, before);
});

test.serial('a new release whose container exits at once is rolled back on every host', async (t) => {
  await commitOnBranch(repo, 'feature/crash', 'develop', {
    'worker.js': "console.error('worker: cannot start: QUEUE_URL missing'); process.exit(3);\n",
  });
  const before = await running();
  const result = await runIn(['run', '--env', 'qa']);
  t.is(result.code, 1, result.output);
  t.regex(
    result.stderr,
    new RegExp(
      `switch failed on 1 host\\(s\\): deploy@${world.hosts[1].replaceAll('.', '\\.')}: worker: container exited with code 3: worker: cannot start: QUEUE_URL missing; every host is back on its previous release`,
    ),
  );
  await assertQaUnchanged(t, before);
  t.is(
    (await projectContainers(world.engines[0])).web.Image,
    `${world.registry}/allume/shopping-tool:develop`,
    'the web host that had switched is back too',
  );
});

test.serial('a health check that never passes rolls back, naming the service, host and last health output', async (t) => {
  await commitOnBranch(repo, 'feature/unhealthy', 'develop', {
    'app.js': "export function handle(request, response) { response.writeHead(503); response.end('database down'); }\n",
    'test/app.test.js': "import { test } from 'node:test';\ntest('nothing', () => {});\n",
  });
  const before = await running();
  const result = await runIn(['run', '--env', 'qa']);
  t.is(result.code, 1, result.output);
  t.regex(
    result.stderr,
    new RegExp(`deploy@${world.hosts[0].replaceAll('.', '\\.')}: web: not healthy after 20 check\\(s\\): GET /health answered 503`),
  );
  await assertQaUnchanged(t, before);
});

test.serial('a deploy while another holds the lock fails at once naming the holder; an expired lock is taken over', async (t) => {
  const before = await running();
  const holder = {
    id: 'other',
    environment: 'qa',
    holder: { user: 'alice', machine: 'alice-laptop', ciUrl: 'https://ci.example.com/job/7' },
    tag: 'hotfix',
    acquiredAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 600_000).toISOString(),
  };
  await placeLock(1, holder);
  try {
    const result = await runIn(['deploy', 'qa']);
    t.is(result.code, 1);
    t.regex(
      result.stderr,
      /qa is locked by alice on alice-laptop \(https:\/\/ci\.example\.com\/job\/7\) since .*, deploying hotfix, expires .* \(on deploy@10\.213\.0\.12\); if that deploy is dead, run: pipeline lock release qa/,
    );
    t.deepEqual(await running(), before);
    t.false(existsSync(lockPath(0)), 'the lock taken on the other host is given back');

    const status = await runIn(['lock', 'status', 'qa']);
    t.is(status.code, 0, status.output);
    t.regex(status.stdout, /deploy@10\.213\.0\.12: locked by alice on alice-laptop/);
    t.regex(status.stdout, /deploy@10\.213\.0\.11: free/);

    await placeLock(1, { ...holder, expiresAt: new Date(Date.now() - 1000).toISOString() });
    const takeover = await runIn(['deploy', 'qa']);
    t.is(takeover.code, 0, takeover.output);
    t.regex(takeover.output, /took over an expired lock of alice on alice-laptop/);
    t.false(existsSync(lockPath(1)));
  } finally {
    await rm(lockPath(1), { recursive: true, force: true });
  }
});

test.serial('pipeline lock release frees a lock left by a dead deploy', async (t) => {
  await placeLock(0, {
    id: 'dead',
    environment: 'qa',
    holder: { user: 'bob', machine: 'ci-7' },
    acquiredAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 600_000).toISOString(),
  });
  const result = await runIn(['lock', 'release', 'qa']);
  t.is(result.code, 0, result.output);
  t.regex(result.stdout, /deploy@10\.213\.0\.11: released the lock of bob on ci-7/);
  t.false(existsSync(lockPath(0)));
});

test.serial('Ctrl-C during the test stage: exit 130, the test container is removed, nothing pushed', async (t) => {
  await commitOnBranch(repo, 'feature/slow-tests', 'develop', {
    'test/slow.test.js':
      "import { test } from 'node:test';\ntest('slow', async () => { console.log('slow test running'); await new Promise((r) => setTimeout(r, 60000)); });\n",
  });
  let sent = false;
  const result = await pipelineWatching(['--config', config, 'run'], { cwd: repo.work, env }, (line, child) => {
    if (!sent && line.includes('slow test running')) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  t.true(sent, 'the test stage was reached');
  t.is(result.code, 130, result.output);
  t.regex(result.output, /SIGINT received, stopping and cleaning up/);
  const leftovers = await new Docker().listContainers({
    all: true,
    filters: { label: ['pipeline.stage=test', 'pipeline.project=shopping-tool'] },
  });
  t.deepEqual(leftovers, []);
  t.false((await registryTags(world, 'allume/shopping-tool')).includes('featureslow-tests'));
});

test.serial('SIGTERM during the deploy: exit 143, every host back on its previous release, the lock released', async (t) => {
  const before = await running();
  let sent = false;
  const result = await pipelineWatching(
    ['--config', config, 'deploy', 'qa', '--docker-tag', 'feature/x'],
    { cwd: repo.work, env },
    (line, child) => {
      if (!sent && /waiting until healthy/.test(line)) {
        sent = true;
        child.kill('SIGTERM');
      }
    },
  );
  t.true(sent, 'the switch was reached');
  t.is(result.code, 143, result.output);
  await assertQaUnchanged(t, before);
});

test.serial('a branch named with shell metacharacters runs nothing on any host', async (t) => {
  const markers = ['/tmp/pwned', '/tmp/pwned2'];
  await Promise.all(markers.map((marker) => rm(marker, { force: true })));
  await repo.git('checkout', '-q', 'develop');
  // As the CI names it (git itself refuses the space), and as a branch git accepts.
  const fromCi = await runIn(['run', '--env', 'qa', '--branch', 'feature/$(touch /tmp/pwned);x']);
  t.is(fromCi.code, 0, fromCi.output);
  t.regex(fromCi.output, /tag feature--touch-tmppwned--x/);
  t.is((await projectContainers(world.engines[0])).web.Image, `${world.registry}/allume/shopping-tool:feature--touch-tmppwned--x`);
  await repo.git('checkout', '-q', '-B', 'feature/$(touch${IFS}/tmp/pwned2);x`id`', 'develop');
  const fromGit = await runIn(['run', '--env', 'qa']);
  t.is(fromGit.code, 0, fromGit.output);
  for (const marker of markers) t.false(existsSync(marker), `no command in the branch name ran (${marker})`);
});

test.serial('secrets: missing ones stop the run before it starts; values reach the containers and never the output', async (t) => {
  const withSecrets = worldConfig(world);
  withSecrets.environments.qa.secrets = ['DB_PASSWORD'];
  withSecrets.test.env.DB_PASSWORD = 'S3cr3t-db-pass!';
  withSecrets.test.command = ['sh', '-c', 'echo "plain $DB_PASSWORD"; echo "b64 $(printf "user:%s" "$DB_PASSWORD" | base64)"; node --test'];
  const file = await writeConfig(repo, withSecrets, 'secrets.json');
  await repo.git('checkout', '-q', 'develop');

  const missing = await pipeline(['--config', file, 'run'], { cwd: repo.work, env });
  t.is(missing.code, 2);
  t.is(missing.stderr.trim(), 'pipeline: secret not set in the environment: DB_PASSWORD');

  const result = await pipeline(['--config', file, 'run'], { cwd: repo.work, env: { ...env, DB_PASSWORD: 'S3cr3t-db-pass!' } });
  t.is(result.code, 0, result.output);
  t.regex(result.output, /plain \*\*\*/);
  t.false(result.output.includes('S3cr3t-db-pass!'));
  t.false(result.output.includes(Buffer.from('S3cr3t-db-pass!').toString('base64').slice(4, 16)), 'nor its base64 form');
  t.false(result.output.includes(world.password));
  const webEnv = (await world.engines[0].getContainer('shopping-tool-web').inspect()).Config.Env;
  t.true(webEnv.includes('DB_PASSWORD=S3cr3t-db-pass!'));
});

test.serial('a wrong registry password fails the push in one line, masked, and deploys nothing', async (t) => {
  const before = await running();
  const wrong = worldConfig(world);
  wrong.registry.password = 'not-the-password';
  await commitOnBranch(repo, 'feature/wrong-pass', 'develop', { 'NOTES.md': 'x\n' });
  const result = await pipeline(['--config', await writeConfig(repo, wrong, 'wrong.json'), 'run', '--env', 'qa'], { cwd: repo.work, env });
  t.is(result.code, 1);
  t.regex(result.stderr, /pipeline: push of .* failed: .*(unauthorized|authentication required)/i);
  t.false(result.output.includes('not-the-password'));
  t.deepEqual(await running(), before);
});

test.serial('one SSH connection per host per deploy; previous releases are kept for rollback, at most keepReleases', async (t) => {
  const before = await sshLogins(0);
  const result = await runIn(['deploy', 'qa', '--docker-tag', 'feature/x']);
  t.is(result.code, 0, result.output);
  t.is((await sshLogins(0)) - before, 1, 'exactly one SSH login on the web host');
  t.is((await runIn(['deploy', 'qa'])).code, 0);
  const since = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 2; i += 1) t.is((await runIn(['deploy', 'qa'])).code, 0);
  t.deepEqual(await imagePulls(world.engines[0], since), [], 'a release the host already has by its digest is not pulled again');
  const kept = await keptContainers(world.engines[0], 'web');
  t.is(kept.length, 3, 'three previous releases are kept');
  t.true(kept.every((c) => c.State !== 'running'));
  const used = new Set((await world.engines[0].listContainers({ all: true })).map((c) => c.ImageID));
  const images = await world.engines[0].listImages({ filters: { reference: [`${world.registry}/allume/shopping-tool`] } });
  t.true(images.length > 0);
  t.deepEqual(
    images.filter((image) => !used.has(image.Id) && (image.RepoTags ?? []).length <= 1).map((image) => image.RepoTags),
    [],
    'images no container uses are pruned',
  );
});

/** The images an engine pulled since a time (seconds), from its events. */
async function imagePulls(engine, since) {
  const stream = await engine.getEvents({ since, until: Math.ceil(Date.now() / 1000) + 1, filters: { type: ['image'], event: ['pull'] } });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks)
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line).id);
}

test.serial('an unreachable registry fails the push in one line and deploys nothing', async (t) => {
  const before = await running();
  const offline = worldConfig(world);
  offline.registry.server = '10.213.0.1:5999';
  offline.image = '10.213.0.1:5999/allume/shopping-tool';
  await repo.git('checkout', '-q', 'develop');
  const result = await pipeline(['--config', await writeConfig(repo, offline, 'offline.json'), 'run', '--env', 'qa'], {
    cwd: repo.work,
    env,
  });
  t.is(result.code, 1, result.output);
  t.regex(result.stderr, /^pipeline: push of 10\.213\.0\.1:5999\/allume\/shopping-tool:develop failed: .*(connection refused|connect)/m);
  t.notRegex(result.stderr, /\n\s+at /, 'no stack trace');
  t.deepEqual(await running(), before);
});

test.serial('a host lost in the middle of a deploy: exit 1 naming it, the other hosts back on their previous release', async (t) => {
  // The web host takes a few seconds to become healthy; the worker host is cut off meanwhile.
  await commitOnBranch(repo, 'feature/slow-start', 'develop', {
    'app.js':
      "const ready = Date.now() + 4000;\nexport function handle(request, response) { response.writeHead(Date.now() < ready ? 503 : 200); response.end('{}'); }\n",
    'test/app.test.js': "import { test } from 'node:test';\ntest('nothing', () => {});\n",
  });
  const before = await running();
  let cut = false;
  const result = await pipelineWatching(['--config', config, 'run', '--env', 'qa'], { cwd: repo.work, env }, (line) => {
    if (!cut && line.includes(`deploy@${world.hosts[1]}: worker: healthy`)) {
      cut = true;
      void cutHost('plw-h2');
    }
  });
  try {
    t.true(cut, 'the worker host was cut off during the switch');
    t.is(result.code, 1, result.output);
    t.regex(
      result.output,
      new RegExp(
        `pipeline: .*deploy@${world.hosts[1].replaceAll('.', '\\.')}: .*connection lost; could not roll back deploy@${world.hosts[1].replaceAll('.', '\\.')} \\(connection lost\\): check it with pipeline status qa`,
      ),
    );
    const web = await projectContainers(world.engines[0]);
    t.is(`${web.web.Id.slice(0, 12)} ${web.web.State}`, before[0].web, 'the web host is back on its previous release');
    t.false(existsSync(lockPath(0)), 'the lock is released where the host can be reached');
  } finally {
    await worldCommand('sshd-start', 'h2');
    await rm(lockPath(1), { recursive: true, force: true });
  }
});

/** Cuts a host off: every sshd process in its network namespace (the listener and the open sessions) is killed. */
async function cutHost(namespace) {
  const exec = promisify(execFile);
  const pids = (await exec('ip', ['netns', 'pids', namespace])).stdout.split('\n').filter(Boolean);
  const sshd = [];
  for (const pid of pids) {
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'sshd') sshd.push(pid);
  }
  if (sshd.length > 0) await exec('kill', ['-9', ...sshd]);
}
