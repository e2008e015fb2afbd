import test from 'ava';
import { Listr } from 'listr2';
import { JsonRenderer, placeOf, writeResult } from '../../dist/runner/json.js';

for (const [names, place] of [
  [['build'], { stage: 'build' }],
  [['deploy'], { stage: 'deploy' }],
  [['deploy', 'qa'], { stage: 'deploy' }],
  [['deploy', 'qa', 'lock'], { stage: 'deploy' }],
  [
    ['deploy', 'qa', 'switch', 'deploy@10.0.0.1'],
    { stage: 'deploy', host: { environment: 'qa', phase: 'switch', host: 'deploy@10.0.0.1' } },
  ],
  [['test', 'a', 'b', 'c'], { stage: 'test' }],
]) {
  test(`placeOf(${names.join(' › ')})`, (t) => {
    t.deepEqual(placeOf(names), place);
  });
}

/** Runs tasks under the JSON renderer (no lines for people) and returns the events it wrote. */
async function eventsOf(tasks) {
  const lines = [];
  let clock = Date.parse('2024-05-01T10:00:00.000Z');
  const list = new Listr(tasks, {
    renderer: JsonRenderer,
    rendererOptions: { human: false, write: (line) => lines.push(line), now: () => (clock += 100) },
    exitOnError: true,
    registerSignalListeners: false,
  });
  const error = await list.run().then(
    () => undefined,
    (caught) => caught,
  );
  return {
    lines,
    events: lines
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line)),
    error,
  };
}

test('stages: started and ended with status, time, duration and what the title says', async (t) => {
  const { lines, events } = await eventsOf([
    {
      title: 'checkout',
      task: (_ctx, task) => {
        task.title = 'checkout: master at abc';
      },
    },
    { title: 'push', skip: () => 'no registry configured', task: () => {} },
  ]);
  t.true(
    lines.every((line) => /^(\{.*\}\n)+$/.test(line)),
    'whole JSON lines in every write',
  );
  t.deepEqual(events, [
    { type: 'stage', stage: 'checkout', status: 'started', time: '2024-05-01T10:00:00.100Z' },
    { type: 'stage', stage: 'checkout', status: 'success', time: '2024-05-01T10:00:00.200Z', durationMs: 100, message: 'master at abc' },
    { type: 'stage', stage: 'push', status: 'started', time: '2024-05-01T10:00:00.300Z' },
    {
      type: 'stage',
      stage: 'push',
      status: 'skipped',
      time: '2024-05-01T10:00:00.400Z',
      durationMs: 100,
      message: 'no registry configured',
    },
  ]);
});

test('a failed stage ends once, with the error message; output lines name their stage', async (t) => {
  const { events, error } = await eventsOf([
    {
      title: 'test',
      task: (_ctx, task) => {
        task.output = 'running 3 tests\n\nnot ok 2';
        throw new Error('tests failed: exit 1');
      },
    },
    { title: 'push', task: () => {} },
  ]);
  t.is(error.message, 'tests failed: exit 1');
  t.deepEqual(
    events.map(({ time, durationMs, ...event }) => event),
    [
      { type: 'stage', stage: 'test', status: 'started' },
      { type: 'output', stage: 'test', line: 'running 3 tests' },
      { type: 'output', stage: 'test', line: 'not ok 2' },
      { type: 'stage', stage: 'test', status: 'failure', message: 'tests failed: exit 1' },
    ],
  );
});

test('deploy: host events for each phase host, none for environments, phases or checks; host output names the host', async (t) => {
  const host = (id, work) => ({
    title: id,
    task: async (_ctx, task) => {
      await work(task);
    },
  });
  const { events, error } = await eventsOf([
    {
      title: 'deploy',
      task: (_ctx, deploy) => {
        deploy.title = 'deploy: develop → qa';
        return deploy.newListr([
          {
            title: 'qa',
            task: (_c, environment) => {
              environment.title = 'qa: develop to 2 host(s)';
              return environment.newListr([
                {
                  title: 'switch',
                  task: (_c2, phase) =>
                    phase.newListr(
                      [
                        host('deploy@h1', (task) => {
                          task.output = 'deploy@h1: web: healthy';
                          task.title = 'deploy@h1: web replaced';
                        }),
                        host('deploy@h2', () => {
                          throw new Error('deploy@h2: worker never became healthy');
                        }),
                      ],
                      { exitOnError: false },
                    ),
                },
                {
                  title: 'switch: checking',
                  task: () => {
                    throw new Error('switch failed on 1 host(s)');
                  },
                },
              ]);
            },
          },
        ]);
      },
    },
  ]);
  t.is(error.message, 'switch failed on 1 host(s)');
  t.deepEqual(
    events.map(({ time, durationMs, ...event }) => event),
    [
      { type: 'stage', stage: 'deploy', status: 'started' },
      { type: 'host', environment: 'qa', phase: 'switch', host: 'deploy@h1', status: 'started' },
      { type: 'output', stage: 'deploy', host: 'deploy@h1', line: 'deploy@h1: web: healthy' },
      { type: 'host', environment: 'qa', phase: 'switch', host: 'deploy@h1', status: 'success', message: 'web replaced' },
      { type: 'host', environment: 'qa', phase: 'switch', host: 'deploy@h2', status: 'started' },
      {
        type: 'host',
        environment: 'qa',
        phase: 'switch',
        host: 'deploy@h2',
        status: 'failure',
        message: 'deploy@h2: worker never became healthy',
      },
      { type: 'stage', stage: 'deploy', status: 'failure', message: 'switch failed on 1 host(s)' },
    ],
  );
});

test('writeResult writes one result per process, however often it is called', (t) => {
  const lines = [];
  writeResult({ type: 'result', status: 'failure', exitCode: 1 }, (line) => lines.push(line));
  writeResult({ type: 'result', status: 'failure', exitCode: 2 }, (line) => lines.push(line));
  t.deepEqual(lines, ['{"type":"result","status":"failure","exitCode":1}\n']);
});
