// The release phase of an environment deploy, over an in-memory target: after every member pulled, before any
// switches, once, on the member the target names; a failure switches nothing; --skip-release says why.
import test from 'ava';
import { Listr } from 'listr2';
import { EnvironmentDeploy } from '../../dist/deploy/environment.js';
import { JsonRenderer } from '../../dist/runner/json.js';

const COMMAND = { service: 'web', command: ['npm', 'run', 'migrate'], timeoutMs: 600_000 };

/** A target of three members whose parts only record what the deploy asks of them. */
function recordingTarget(calls, { releaseFails = false } = {}) {
  const members = [
    { id: 'web-1', roles: ['web'] },
    { id: 'web-2', roles: ['web'] },
    { id: 'worker-1', roles: ['worker'] },
  ];
  const part = (id, log) => ({
    id,
    results: [],
    preflight: async () => undefined,
    pull: async () => {
      calls.push(`pull ${id}`);
    },
    runRelease: async (command) => {
      calls.push(`release ${id} ${command.command.join(' ')}`);
      log('migrating 41');
      if (releaseFails) throw new Error('release command npm run migrate exited with code 3: migration 42 failed');
    },
    switch: async () => {
      calls.push(`switch ${id}`);
    },
    switchBack: async () => {
      calls.push(`switch back ${id}`);
    },
    verify: async () => {},
    undo: async () => {
      calls.push(`undo ${id}`);
    },
    finish: async () => {},
  });
  return {
    environment: 'qa',
    members,
    prepare() {},
    open: async (id, _job, log) => part(id, log),
    lock: async () => ({ tookOver: [] }),
    unlock: async () => {},
    urls: () => [],
    releaseMember: (service) => (service === 'web' ? members[1] : undefined),
    close: async () => {},
  };
}

async function deploy({ releaseCommand = COMMAND, skipRelease, releaseFails, rollback = false, withoutRelease = false } = {}) {
  const calls = [];
  const lines = [];
  const target = recordingTarget(calls, { releaseFails });
  if (withoutRelease) delete target.releaseMember;
  const environment = new EnvironmentDeploy({
    target,
    job: {
      ...(rollback ? {} : { release: { repository: 'app', tag: 'develop', digest: 'sha256:1' } }),
      deployedBy: 'me@here',
      secretEnv: () => ({}),
      signal: new AbortController().signal,
    },
    lock: { holder: { user: 'me', machine: 'here' } },
    resolveDigest: false,
    ...(releaseCommand ? { releaseCommand } : {}),
    ...(skipRelease ? { skipRelease } : {}),
    concurrency: 10,
    mask: (text) => text,
    onFailure: () => {},
    onDeployed: () => {},
  });
  const list = new Listr(
    [{ title: 'deploy', task: (_ctx, task) => task.newListr([{ title: 'qa', task: (_c, qa) => qa.newListr(environment.tasks()) }]) }],
    {
      renderer: JsonRenderer,
      rendererOptions: { human: false, write: (line) => lines.push(line) },
      registerSignalListeners: false,
    },
  );
  const error = await list.run().then(
    () => undefined,
    (caught) => caught,
  );
  const events = lines
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
  return { calls, events, error };
}

test('the release command runs once, on the member the target names, after every pull and before any switch', async (t) => {
  const { calls, events, error } = await deploy();
  t.is(error, undefined);
  const release = calls.indexOf('release web-2 npm run migrate');
  t.true(release > Math.max(...calls.filter((c) => c.startsWith('pull')).map((c) => calls.indexOf(c))));
  t.true(release < Math.min(...calls.filter((c) => c.startsWith('switch')).map((c) => calls.indexOf(c))));
  t.is(calls.filter((c) => c.startsWith('release')).length, 1);
  const host = events.filter((e) => e.type === 'host' && e.phase === 'release').map(({ host: id, status }) => `${id} ${status}`);
  t.deepEqual(host, ['web-2 started', 'web-2 success'], 'the JSON stream places it like the other phases');
  t.true(
    events.some((e) => e.type === 'output' && e.host === 'web-2' && e.line === 'web-2: migrating 41'),
    'its output streams into the task list',
  );
});

test('a failing release command fails the deploy naming the member and its last lines; nothing is switched', async (t) => {
  const { calls, error } = await deploy({ releaseFails: true });
  t.is(
    error.message,
    'release failed on 1 host(s): web-2: release command npm run migrate exited with code 3: migration 42 failed; nothing was switched',
  );
  t.false(calls.some((c) => c.startsWith('switch') || c.startsWith('undo')));
});

test('--skip-release: the phase is skipped with its reason, and nothing runs it', async (t) => {
  const { calls, events, error } = await deploy({ skipRelease: '--skip-release: the release command was not run' });
  t.is(error, undefined);
  t.false(calls.some((c) => c.startsWith('release')));
  t.true(calls.some((c) => c.startsWith('switch')));
  t.false(events.some((e) => e.phase === 'release'));
});

test('without a release command there is no release phase; a rollback never runs it', async (t) => {
  const none = await deploy({ releaseCommand: null });
  t.false(none.calls.some((c) => c.startsWith('release')));
  const rollback = await deploy({ rollback: true });
  t.is(rollback.error, undefined);
  t.deepEqual(rollback.calls.sort(), ['switch back web-1', 'switch back web-2', 'switch back worker-1']);
});

test('a release command whose service has no member fails before anything switches', async (t) => {
  const { calls, error } = await deploy({ releaseCommand: { ...COMMAND, service: 'api' } });
  t.is(error.message, 'release: no host of qa runs api');
  t.false(calls.some((c) => c.startsWith('switch')));
});

test('a target that cannot run a release command yet fails the deploy before anything switches', async (t) => {
  const { calls, error } = await deploy({ withoutRelease: true });
  t.is(error.message, 'release: qa cannot run a release command yet (--skip-release deploys without it)');
  t.false(calls.some((c) => c.startsWith('switch')));
  t.is((await deploy({ withoutRelease: true, skipRelease: '--skip-release: the release command was not run' })).error, undefined);
});
