// The deploy lock as a lease: a deploy killed with SIGKILL strands nobody, and deploys queue behind each other.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import test from 'ava';
import {
  commitOnBranch,
  hostHome,
  pipeline,
  pipelineWatching,
  pushBranches,
  resetHosts,
  setUpExample,
  worldConfig,
  writeConfig,
} from '../helpers/world.js';

const KEEP = 1;
const SLOW_TAG = 'featureslow-start';
let world;
let repo;
let env;
let config;

test.before(async () => {
  ({ world, repo, env } = await setUpExample());
  const lease = worldConfig(world);
  lease.keepReleases = KEEP;
  // A health check that waits long enough for a release that takes a few seconds to become healthy.
  lease.services.web.healthcheck = { http: { path: '/health', port: 8000 }, interval: '500ms', retries: 40 };
  config = await writeConfig(repo, lease, 'lease.json');
  // A release that is healthy only 6 s after it starts, built and pushed by this file; then qa runs develop, verified.
  await commitOnBranch(repo, 'feature/slow-start', 'develop', {
    'app.js':
      "const ready = Date.now() + 6000;\nexport function handle(request, response) { response.writeHead(Date.now() < ready ? 503 : 200); response.end('{}'); }\n",
    'test/app.test.js': "import { test } from 'node:test';\ntest('nothing', () => {});\n",
  });
  await pushBranches({ world, repo, env, config }, ['feature/slow-start']);
  const first = await runIn(['run']);
  if (first.code !== 0) throw new Error(`the first deploy failed:\n${first.output}`);
});

test.after.always(async () => {
  if (world) await resetHosts(world);
  await repo?.cleanup();
});

/** As a CircleCI job runs it: its build URL is recorded in the lock, and without --lock-wait a held lock is waited for. */
const ci = (job, user) => ({ CIRCLECI: 'true', CIRCLE_BUILD_URL: `https://circleci.example.com/job/${job}`, CIRCLE_USERNAME: user });
const runIn = (args, extraEnv = {}) => pipeline(['--config', config, ...args], { cwd: repo.work, env: { ...env, ...extraEnv } });
const watching = (args, extraEnv, onLine) =>
  pipelineWatching(['--config', config, ...args], { cwd: repo.work, env: { ...env, ...extraEnv } }, onLine);
const QA = [0, 1]; // the web host h1 and the worker host h2
const lockFile = (index) => join(hostHome(index), '.pipeline/locks/shopping-tool-qa/lock.json');
const pendingFile = (index) => join(hostHome(index), '.pipeline/pending/shopping-tool-qa.json');
const readJson = async (file) => JSON.parse(await readFile(file, 'utf8'));

/** Every container of a service on a qa host, with the deploy that created it. */
async function serviceContainers(index, service) {
  const list = await world.engines[index].listContainers({
    all: true,
    filters: { label: ['pipeline.project=shopping-tool', `pipeline.service=${service}`] },
  });
  return list.map((c) => ({
    id: c.Id,
    name: c.Names[0].slice(1),
    state: c.State,
    tag: c.Labels['pipeline.tag'],
    deploy: c.Labels['pipeline.deploy'],
  }));
}

/** Polls the web host's lock until stopped: the holders it saw, in order (a record is written whole, by a rename). */
function watchLock() {
  const seen = [];
  let stop = false;
  const done = (async () => {
    while (!stop) {
      const record = await readJson(lockFile(0)).catch(() => undefined);
      if (record && seen.at(-1)?.id !== record.id) seen.push(record);
      await delay(100);
    }
  })();
  return {
    seen,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

/** Waits until `condition()` holds, checking every `everyMs`; false if `giveUp()` comes first. */
async function until(condition, giveUp, everyMs = 250) {
  for (;;) {
    if (await condition()) return true;
    if (giveUp()) return false;
    await delay(everyMs);
  }
}

test.serial(
  'a deploy killed with SIGKILL mid-switch: status shows it, the next deploy takes over its lease and converges every host',
  async (t) => {
    const before = Object.fromEntries(await Promise.all(QA.map(async (i) => [i, await serviceContainers(i, i === 0 ? 'web' : 'worker')])));
    let killed = false;
    const dead = await watching(['deploy', 'qa', '--docker-tag', 'feature/slow-start'], {}, (line, child) => {
      if (!killed && /web: started .*, waiting until healthy/.test(line)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    t.true(killed, 'the switch was reached');
    t.is(dead.signal, 'SIGKILL');

    // What the killed deploy left: its lock, its pending record, and its unverified web container in place of develop's.
    const record = await readJson(pendingFile(0));
    const lock = await readJson(lockFile(0));
    t.is(lock.tag, SLOW_TAG);
    t.is(record.tag, SLOW_TAG);
    t.deepEqual(record.unverified, [record.id]);
    const webAfterKill = await serviceContainers(0, 'web');
    const unverified = webAfterKill.find((c) => c.name === 'shopping-tool-web');
    t.is(unverified.deploy, record.id, "the container at the service's name is the killed deploy's");
    t.is(
      record.previous.web.id,
      before[0].find((c) => c.name === 'shopping-tool-web').id,
      'the record names the develop container it replaced',
    );
    t.true(
      webAfterKill.some((c) => c.id === record.previous.web.id && c.name !== 'shopping-tool-web'),
      'which is set aside',
    );

    // The next deploy starts at once, as a re-run CI job would, and queues behind the dead deploy's lease.
    let waiting = false;
    let proceeded = false;
    const next = watching(['deploy', 'qa', '--docker-tag', 'feature/slow-start', '--lock-wait', '3m'], {}, (line) => {
      if (/waiting up to 3m for the lock: qa is locked by/.test(line)) waiting = true;
      if (/took over an expired lock/.test(line)) proceeded = true;
    });
    t.true(
      await until(
        () => waiting,
        () => proceeded,
      ),
      'the next deploy waits for the lock',
    );
    // While it waits, status shows the deploy that died before it was verified.
    let status;
    const shown = await until(
      async () => {
        status = await runIn(['status', 'qa']);
        return /stopped before it was verified/.test(status.stdout);
      },
      () => proceeded,
      1_000,
    );
    t.true(shown, `status shows the interrupted deploy before the next one takes over:\n${status?.stdout}`);
    t.is(status.code, 0, status.output);
    t.regex(
      status.stdout,
      new RegExp(
        `deploy@${world.hosts[0].replaceAll('.', '\\.')} \\[web\\] — locked by .*\\n    interrupted: the deploy of ${SLOW_TAG} by .*, stopped before it was verified`,
      ),
    );
    t.regex(status.stdout, new RegExp(`web\\s+${SLOW_TAG} .*UNVERIFIED`));
    t.regex(
      status.stdout,
      new RegExp(
        `qa: the last deploy \\(${SLOW_TAG} by .*\\) stopped before it was verified on \\d host\\(s\\); the next deploy removes what it left`,
      ),
    );

    const result = await next;
    t.is(result.code, 0, result.output);
    t.regex(result.output, /took over an expired lock of/, "no lock release: the dead deploy's lease ran out");
    t.true(result.output.indexOf('waiting up to 3m for the lock') < result.output.indexOf('took over an expired lock'));
    t.regex(result.output, /web: removed shopping-tool-web, left unverified by an interrupted deploy/);

    for (const [index, service] of [
      [0, 'web'],
      [1, 'worker'],
    ]) {
      const containers = await serviceContainers(index, service);
      const current = containers.filter((c) => c.name === `shopping-tool-${service}`);
      t.is(current.length, 1);
      t.is(current[0].state, 'running');
      t.is(current[0].tag, SLOW_TAG, `${service} runs the new release`);
      t.is(containers.filter((c) => c.tag === SLOW_TAG).length, 1, `exactly one ${service} container of the new release`);
      t.deepEqual(
        containers.filter((c) => c.deploy === record.id),
        [],
        `nothing of the killed deploy is left on ${service}'s host`,
      );
      const kept = containers.filter((c) => c.name !== `shopping-tool-${service}`);
      t.deepEqual(
        kept.map((c) => [c.id, c.state, c.tag]),
        [[before[index].find((c) => c.name === `shopping-tool-${service}`).id, 'exited', 'develop']],
        `${service}: the verified develop release is kept for rollback, within keepReleases`,
      );
      t.false(existsSync(pendingFile(index)), 'no deploy is pending any more');
      t.false(existsSync(lockFile(index)), 'the lock is released');
    }
    const after = await runIn(['status', 'qa']);
    t.notRegex(after.stdout, /interrupted|UNVERIFIED/);
  },
);

test.serial('--lock-wait: a second deploy queues behind a running one, says so, and starts once the first has finished', async (t) => {
  const lock = watchLock();
  let second;
  let heldWhenWaiting;
  const first = watching(['deploy', 'qa', '--docker-tag', 'feature/slow-start'], ci(1, 'alice'), (line) => {
    if (!second && /web: started .*, waiting until healthy/.test(line)) {
      second = watching(['deploy', 'qa', '--docker-tag', 'develop'], ci(2, 'bob'), (own) => {
        if (!heldWhenWaiting && /waiting up to 10m for the lock/.test(own)) heldWhenWaiting = readJson(lockFile(0)).catch((error) => error);
      });
    }
  });
  const firstResult = await first;
  t.truthy(second, 'the second deploy started while the first was switching');
  const secondResult = await second;
  await lock.stop();
  t.is(firstResult.code, 0, firstResult.output);
  t.is(secondResult.code, 0, secondResult.output);

  const out = secondResult.output;
  t.regex(
    out,
    /waiting up to 10m for the lock: qa is locked by alice on .* \(https:\/\/circleci\.example\.com\/job\/1\) since .*, deploying featureslow-start/,
  );
  t.regex(out, /the lock is free after waiting .*: proceeding/);
  t.true(out.indexOf('waiting up to 10m') < out.indexOf(': proceeding'));
  t.is((await heldWhenWaiting).holder.user, 'alice', 'while the second waited, the first held the lock');
  // The lock's holders in the order they held it: the first deploy's record, then (once it was removed) the second's.
  const holders = lock.seen.map((record) => record.holder.user);
  t.is(holders[0], 'alice');
  t.is(holders.at(-1), 'bob');
  t.true(holders.lastIndexOf('alice') < holders.indexOf('bob'), `never the first's lock after the second's: ${holders.join(', ')}`);

  const web = await serviceContainers(0, 'web');
  t.deepEqual(
    web.filter((c) => c.name === 'shopping-tool-web').map((c) => [c.tag, c.state]),
    [['develop', 'running']],
    "the second deploy's release runs",
  );
  t.deepEqual(
    web.filter((c) => c.name !== 'shopping-tool-web').map((c) => [c.tag, c.state]),
    [[SLOW_TAG, 'exited']],
    "the first's, verified, is kept",
  );
});

test.serial('without --lock-wait on a terminal a held lock fails at once, saying how to queue', async (t) => {
  let second;
  const first = watching(['deploy', 'qa', '--docker-tag', 'feature/slow-start'], {}, (line) => {
    if (!second && /web: started .*, waiting until healthy/.test(line)) second = runIn(['deploy', 'qa', '--docker-tag', 'develop']);
  });
  t.is((await first).code, 0);
  const refused = await second;
  t.is(refused.code, 1, refused.output);
  t.regex(
    refused.stderr,
    /pipeline: qa is locked by .* \(on deploy@10\.213\.0\.1[12]\); if that deploy is dead, run: pipeline lock release qa; to queue behind it instead: --lock-wait 10m/,
  );
  const bad = await runIn(['deploy', 'qa', '--lock-wait', 'soon']);
  t.is(bad.code, 2);
  t.is(bad.stderr.trim(), 'pipeline: --lock-wait soon: must be a duration such as "90s" or "10m", or 0 to fail at once');
});

test.serial('a rollback after a deploy killed mid-switch brings back the release that deploy was replacing', async (t) => {
  const short = worldConfig(world);
  short.keepReleases = KEEP;
  short.lockTtl = '10s';
  const file = await writeConfig(repo, short, 'lease-short.json');
  const running = async () =>
    Promise.all(
      [
        [0, 'web'],
        [1, 'worker'],
      ].map(async ([i, service]) => (await serviceContainers(i, service)).find((c) => c.name === `shopping-tool-${service}`)),
    );
  const before = await running();
  t.deepEqual(
    before.map((c) => c.tag),
    [SLOW_TAG, SLOW_TAG],
  );
  let killed = false;
  await pipelineWatching(['--config', file, 'deploy', 'qa', '--docker-tag', 'develop'], { cwd: repo.work, env }, (line, child) => {
    if (!killed && /web: started .*, waiting until healthy/.test(line)) {
      killed = true;
      child.kill('SIGKILL');
    }
  });
  t.true(killed);
  const record = await readJson(pendingFile(0));

  const result = await pipeline(['--config', file, 'rollback', 'qa', '--lock-wait', '1m'], { cwd: repo.work, env });
  t.is(result.code, 0, result.output);
  t.regex(result.output, /took over an expired lock of/);
  t.regex(result.output, new RegExp(`web: back on the release an interrupted deploy was replacing \\(tag ${SLOW_TAG}\\)`));
  const after = await running();
  t.deepEqual(
    after.map((c) => [c.id, c.state]),
    before.map((c) => [c.id, 'running']),
    'the containers that ran before the killed deploy run again',
  );
  for (const [index, service] of [
    [0, 'web'],
    [1, 'worker'],
  ]) {
    t.deepEqual(
      (await serviceContainers(index, service)).filter((c) => c.deploy === record.id),
      [],
      `nothing of the killed deploy is left on ${service}'s host`,
    );
    t.false(existsSync(pendingFile(index)));
  }
});
