// The release command (config `release`): once per environment deploy, after the pull and before the switch, in a
// one-off container of the new release as its service runs (env, secrets, named volumes); a failure switches nothing.

import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import {
  execOutput,
  hostHome,
  keptContainers,
  pipeline,
  pipelineWatching,
  projectContainers,
  setUpExample,
  worldConfig,
  writeConfig,
} from '../helpers/world.js';

let world;
let repo;
let env;
let config;
/** The commit the example's branches all point at: `run` pushes it as a tag beside the branch's, so it can be deployed again. */
let sha;

// Each run appends what it saw to the named volume `data` (the Docker volume shopping-tool_data) that web mounts.
const RECORD_RUN = [
  "const fs = require('fs');",
  "const seen = { at: Date.now(), environment: process.env.APP_ENV, note: process.env.RELEASE_NOTE, secret: process.env.DB_PASSWORD === 'migrate-S3cret' };",
  "fs.appendFileSync('/data/runs', JSON.stringify(seen) + '\\n');",
  "console.log('migrated: run ' + fs.readFileSync('/data/runs', 'utf8').trim().split('\\n').length);",
].join(' ');
const SECRET = 'migrate-S3cret';

/** The example on qa with web on two hosts (h1 first) and a release command of web. */
function releaseConfig(release) {
  const cfg = worldConfig(world);
  const [h1, h2] = world.hosts;
  cfg.environments.qa.hosts = { web: [h1, h2], worker: [h2] };
  cfg.environments.qa.secrets = { DB_PASSWORD: 'QA_DB_PASSWORD' };
  cfg.services.web.env = { RELEASE_NOTE: 'from web' };
  cfg.services.web.volumes = ['data:/data'];
  cfg.release = release;
  return cfg;
}

test.before(async () => {
  ({ world, repo, env } = await setUpExample());
  env = { ...env, QA_DB_PASSWORD: SECRET };
  config = await writeConfig(repo, releaseConfig({ command: ['node', '-e', RECORD_RUN], service: 'web', timeout: '1m' }), 'release.json');
  await Promise.all(
    world.engines.map((engine) =>
      engine
        .getVolume('shopping-tool_data')
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
  sha = (await repo.git('rev-parse', 'HEAD')).stdout.trim();
});

test.after.always(async () => {
  // A failed test may leave the lock of a killed deploy.
  await Promise.all([0, 1].map((index) => rm(join(hostHome(index), '.pipeline/locks/shopping-tool-qa'), { recursive: true, force: true })));
  await repo?.cleanup();
});

// biome-ignore lint/suspicious/noControlCharactersInRegex: colour codes start with ESC.
const plain = (text) => text.replace(/\x1b\[[0-9;]*m/g, '');
const runIn = async (args, file = config) => {
  const result = await pipeline(['--config', file, ...args], { cwd: repo.work, env });
  return { ...result, output: plain(result.output), stderr: plain(result.stderr) };
};
const h1 = () => world.engines[0];

/** The runs the release command recorded in web's volume on h1, read by web itself. */
async function runsOnH1() {
  const { output: text } = await execOutput(h1(), 'shopping-tool-web', ['sh', '-c', 'cat /data/runs 2>/dev/null || true']);
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

const oneOffs = async () =>
  (
    await Promise.all(
      world.engines.slice(0, 2).map((engine) => engine.listContainers({ all: true, filters: { label: ['pipeline.one-off'] } })),
    )
  ).flat();
const running = async () =>
  Promise.all(
    [0, 1].map(async (index) =>
      Object.fromEntries(
        Object.entries(await projectContainers(world.engines[index])).map(([service, c]) => [service, `${c.Id.slice(0, 12)} ${c.State}`]),
      ),
    ),
  );
const time = (text) => Date.parse(text);

test.serial(
  "the release command runs once per deploy, on the first web host, with web's env, secrets and volume, before the switch",
  async (t) => {
    const plan = await runIn(['plan', '--offline']);
    t.regex(plan.stdout, /^release +node -e .* on deploy@10\.213\.0\.11, as web, before the switch$/m, 'plan says where it will run');
    const first = await runIn(['run']);
    t.is(first.code, 0, first.output);
    t.regex(first.output, /release: 1 host\(s\) ok|deploy@10\.213\.0\.11: node -e .* exited with code 0/);
    t.regex(first.output, /migrated: run 1/, 'its output streams into the task list');
    t.false(first.output.includes(SECRET), 'secrets never reach the output');

    const [run] = await runsOnH1();
    t.like(run, { environment: 'qa', note: 'from web', secret: true });
    const web = await h1().getContainer('shopping-tool-web').inspect();
    t.true(run.at < time(web.State.StartedAt), 'it ran before web started');
    const { output: onH2 } = await execOutput(world.engines[1], 'shopping-tool-web', [
      'sh',
      '-c',
      'cat /data/runs 2>/dev/null || echo none',
    ]);
    t.is(onH2.trim(), 'none', 'it ran on the first host of web only');
    t.deepEqual(await oneOffs(), [], 'its container is removed');
    const volume = await h1().getVolume('shopping-tool_data').inspect();
    t.is(volume.Labels['pipeline.project'], 'shopping-tool', 'the named volume is labelled with the project');

    // A redeploy: it runs again, while the old web still runs, and again before the new one starts.
    const second = await runIn(['deploy', 'qa', '--docker-tag', sha, '--json']);
    t.is(second.code, 0, second.output);
    const events = second.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line));
    t.true(
      events.some((e) => e.type === 'host' && e.phase === 'release' && e.host === `deploy@${world.hosts[0]}` && e.status === 'success'),
      'the JSON stream reports the release phase',
    );
    const runs = await runsOnH1();
    t.is(runs.length, 2, 'once per deploy');
    const [kept] = await keptContainers(h1(), 'web');
    const keptInfo = await h1().getContainer(kept.Id).inspect();
    const fresh = await h1().getContainer('shopping-tool-web').inspect();
    t.true(runs[1].at < time(keptInfo.State.FinishedAt), 'the old web was still running when it ran');
    t.true(runs[1].at < time(fresh.State.StartedAt), 'the new web started after it');
    t.deepEqual(await oneOffs(), []);
  },
);

test.serial('a named volume survives a redeploy with its data', async (t) => {
  const before = await h1().getVolume('shopping-tool_data').inspect();
  const runs = await runsOnH1();
  t.true(runs.length >= 1);
  const webBefore = (await projectContainers(h1())).web.Id;
  const result = await runIn(['deploy', 'qa', '--docker-tag', 'develop', '--skip-release']);
  t.is(result.code, 0, result.output);
  t.not((await projectContainers(h1())).web.Id, webBefore, 'web was replaced');
  t.deepEqual(await runsOnH1(), runs, "the new container reads what the old one's volume held");
  t.is((await h1().getVolume('shopping-tool_data').inspect()).CreatedAt, before.CreatedAt, 'the same volume');
});

test.serial('--skip-release says so in the task list; run --only deploy runs it; rollback does not', async (t) => {
  const count = (await runsOnH1()).length;
  const skipped = await runIn(['deploy', 'qa', '--docker-tag', sha, '--skip-release']);
  t.is(skipped.code, 0, skipped.output);
  t.regex(skipped.output, /release \[SKIPPED: --skip-release: the release command was not run\]/);
  t.is((await runsOnH1()).length, count);

  const retry = await runIn(['run', '--only', 'deploy']);
  t.is(retry.code, 0, retry.output);
  t.is((await runsOnH1()).length, count + 1, 'run --only deploy runs it');

  const rollback = await runIn(['rollback', 'qa']);
  t.is(rollback.code, 0, rollback.output);
  t.is((await runsOnH1()).length, count + 1, 'a rollback does not run it');
  t.notRegex(rollback.output, /migrated: run/);
});

test.serial('a failing release command fails the deploy with its last lines, and nothing is switched', async (t) => {
  const failing = await writeConfig(
    repo,
    releaseConfig({ command: ['sh', '-c', 'echo migrating 41; echo "migration 42 failed: column exists" >&2; exit 3'], service: 'web' }),
    'failing.json',
  );
  const before = await running();
  const result = await runIn(['deploy', 'qa', '--docker-tag', sha], failing);
  t.is(result.code, 1, result.output);
  const message = result.stderr.split('\n').find((line) => line.startsWith('pipeline: '));
  t.regex(
    message,
    /^pipeline: release failed on 1 host\(s\): deploy@10\.213\.0\.11: release command sh -c .* exited with code 3: .*; nothing was switched$/,
  );
  // The engine copies stdout and stderr apart: the two lines may come in either order.
  const lastLines = message.slice(message.indexOf('exited with code 3: '));
  t.true(lastLines.includes('migrating 41') && lastLines.includes('migration 42 failed: column exists'), message);
  t.deepEqual(await running(), before, 'every container runs as before');
  t.deepEqual(await oneOffs(), []);
  t.false(existsSync(join(hostHome(0), '.pipeline/locks/shopping-tool-qa')), 'the lock is released');
});

test.serial('a release command past its timeout is stopped and removed, and nothing is switched', async (t) => {
  const slow = await writeConfig(
    repo,
    releaseConfig({ command: ['sh', '-c', 'echo waiting for the database; sleep 300'], service: 'web', timeout: '2s' }),
    'slow.json',
  );
  const before = await running();
  const result = await runIn(['deploy', 'qa', '--docker-tag', sha], slow);
  t.is(result.code, 1, result.output);
  t.regex(result.stderr, /release command sh -c .* timed out after 2s: waiting for the database; nothing was switched/);
  t.deepEqual(await running(), before);
  t.deepEqual(await oneOffs(), []);
});

test.serial('SIGTERM while the release command runs: its container is removed, nothing switched, exit 143', async (t) => {
  const slow = await writeConfig(
    repo,
    releaseConfig({ command: ['sh', '-c', 'echo release-$((1 + 1))-started; sleep 300'], service: 'web' }),
    'signal.json',
  );
  const before = await running();
  let sent = false;
  const result = await pipelineWatching(['--config', slow, 'deploy', 'qa', '--docker-tag', sha], { cwd: repo.work, env }, (line, child) => {
    if (!sent && line.includes('release-2-started')) {
      sent = true;
      child.kill('SIGTERM');
    }
  });
  t.true(sent, 'the release command was reached');
  t.is(result.code, 143, result.output);
  t.deepEqual(await running(), before);
  t.deepEqual(await oneOffs(), []);
});

test.serial('a release container left running by a killed deploy is removed by the next deploy', async (t) => {
  const slow = await writeConfig(
    repo,
    releaseConfig({ command: ['sh', '-c', 'echo release-$((1 + 1))-started; sleep 300'], service: 'web' }),
    'killed.json',
  );
  let sent = false;
  await pipelineWatching(['--config', slow, 'deploy', 'qa', '--docker-tag', sha], { cwd: repo.work, env }, (line, child) => {
    if (!sent && line.includes('release-2-started')) {
      sent = true;
      child.kill('SIGKILL');
    }
  });
  t.true(sent, 'the release command was reached');
  t.is((await oneOffs()).length, 1, 'the killed deploy could not remove it');
  const unlocked = await runIn(['lock', 'release', 'qa']);
  t.is(unlocked.code, 0, unlocked.output);
  const next = await runIn(['deploy', 'qa', '--docker-tag', sha]);
  t.is(next.code, 0, next.output);
  t.deepEqual(await oneOffs(), []);
});
