import test from 'ava';
import { describeTask, describeUpdate, failedTask, rolloutVerdict, taskLines } from '../../dist/core/swarm-rollout.js';

const task = (id, state = 'running', extra = {}) => ({
  id,
  slot: Number(id.at(-1)) || 1,
  nodeId: 'n1',
  state,
  desired: 'running',
  current: true,
  ...extra,
});
const old = (id, state = 'running', extra = {}) => task(id, state, { current: false, ...extra });
const describe = (t) => `${t.id} ${t.state}${t.err ? `: ${t.err}` : ''}`;
const status = (state, startedAt = 'T2', message) => ({ state, startedAt, ...(message ? { message } : {}) });

const cases = [
  [
    'an update not started yet waits, whatever the old status said',
    {
      kind: 'update',
      templateChanged: true,
      update: status('completed', 'T1'),
      previousStartedAt: 'T1',
      desired: 2,
      tasks: [old('a1'), old('a2')],
    },
    'waiting',
  ],
  [
    'an update in progress waits',
    {
      kind: 'update',
      templateChanged: true,
      update: status('updating'),
      previousStartedAt: 'T1',
      desired: 2,
      tasks: [task('b1'), old('a2')],
    },
    'waiting',
  ],
  [
    'a completed update has converged',
    {
      kind: 'update',
      templateChanged: true,
      update: status('completed'),
      previousStartedAt: 'T1',
      desired: 2,
      tasks: [task('b1'), task('b2')],
    },
    'ok',
  ],
  [
    'an update Swarm is rolling back waits for the rollback to end',
    {
      kind: 'update',
      templateChanged: true,
      update: status('rollback_started', 'T2', 'update rolled back due to failure or early termination of task b1aaaaaaaaaa'),
      previousStartedAt: 'T1',
      desired: 2,
      tasks: [],
    },
    'waiting',
  ],
  [
    'an update Swarm rolled back failed, naming the task',
    {
      kind: 'update',
      templateChanged: true,
      previousStartedAt: 'T1',
      desired: 2,
      update: status('rollback_completed', 'T2', 'rollback completed'),
      tasks: [
        old('a1'),
        old('a2'),
        task('bbbbbbbbbbb1', 'failed', {
          current: false,
          desired: 'shutdown',
          err: 'task: non-zero exit (137): dockerexec: unhealthy container',
          at: '2',
        }),
      ],
    },
    'failed (rolled back): Swarm rolled the update back: bbbbbbbbbbb1 failed: task: non-zero exit (137): dockerexec: unhealthy container',
  ],
  [
    'a paused update failed',
    {
      kind: 'update',
      templateChanged: true,
      update: status('paused', 'T2', 'update paused due to failure'),
      previousStartedAt: 'T1',
      desired: 2,
      tasks: [],
    },
    'failed: Swarm paused the update (update paused due to failure)',
  ],
  [
    'a spec that changes no task converges on its tasks',
    {
      kind: 'update',
      templateChanged: false,
      update: status('completed', 'T1'),
      previousStartedAt: 'T1',
      desired: 3,
      tasks: [task('a1'), task('a2'), task('a3')],
    },
    'ok',
  ],
  [
    'a scale-up waits for the new task',
    { kind: 'update', templateChanged: false, desired: 3, tasks: [task('a1'), task('a2'), task('a3', 'preparing')] },
    'waiting',
  ],
  [
    'a new service waits for its tasks',
    { kind: 'create', templateChanged: true, desired: 2, tasks: [task('a1'), task('a2', 'starting')] },
    'waiting',
  ],
  [
    'a new service whose tasks run has converged',
    { kind: 'create', templateChanged: true, desired: 2, tasks: [task('a1'), task('a2')] },
    'ok',
  ],
  [
    'a new service fails at its first failed task',
    { kind: 'create', templateChanged: true, desired: 2, tasks: [task('a1'), task('a2', 'rejected', { err: 'No such image: r/app' })] },
    'failed: a2 rejected: No such image: r/app',
  ],
  [
    'a requested rollback waits while it runs',
    {
      kind: 'rollback',
      templateChanged: true,
      update: status('rollback_started', 'T2', 'manually requested rollback'),
      previousStartedAt: 'T1',
      desired: 2,
      tasks: [],
    },
    'waiting',
  ],
  [
    'a requested rollback has converged once completed',
    {
      kind: 'rollback',
      templateChanged: true,
      update: status('rollback_completed'),
      previousStartedAt: 'T1',
      desired: 2,
      tasks: [task('a1'), task('a2')],
    },
    'ok',
  ],
  [
    'a requested rollback that pauses failed',
    {
      kind: 'rollback',
      templateChanged: true,
      update: status('rollback_paused', 'T2', 'stuck'),
      previousStartedAt: 'T1',
      desired: 2,
      tasks: [],
    },
    'failed: Swarm paused the rollback (stuck)',
  ],
];

for (const [name, view, expected] of cases) {
  test(`rolloutVerdict: ${name}`, (t) => {
    const verdict = rolloutVerdict(view, describe);
    const text = !verdict.done ? 'waiting' : verdict.ok ? 'ok' : `failed${verdict.rolledBack ? ' (rolled back)' : ''}: ${verdict.reason}`;
    t.is(text, expected);
  });
}

test('failedTask: the task Swarm names, else the newest failed one', (t) => {
  const tasks = [
    task('aaaaaaaaaaaa1', 'failed', { at: '1' }),
    task('bbbbbbbbbbbb2', 'failed', { at: '3' }),
    task('cccccccccccc3', 'rejected', { at: '2' }),
  ];
  t.is(failedTask(tasks, 'update rolled back due to failure or early termination of task aaaaaaaaaaaa1')?.id, 'aaaaaaaaaaaa1');
  t.is(failedTask(tasks, undefined)?.id, 'bbbbbbbbbbbb2');
  t.is(failedTask([task('d1')], undefined), undefined);
});

const names = new Map([['n1', 'vm (10.213.0.13)']]);
const lineCases = [
  ['a running task', task('x1', 'running', { tag: 'release2' }), 'web.1 on vm (10.213.0.13): running release2'],
  [
    'a task being stopped',
    old('x2', 'running', { desired: 'shutdown', tag: 'release1' }),
    'web.2 on vm (10.213.0.13): running (stopping) release1',
  ],
  [
    'a failed task with its error',
    task('x1', 'failed', { desired: 'shutdown', err: 'task: non-zero exit (1)', tag: 'bad' }),
    'web.1 on vm (10.213.0.13): failed bad: task: non-zero exit (1)',
  ],
  [
    'a global task, on an unknown node',
    { id: 'g', nodeId: 'abcdefabcdefabcdef', state: 'pending', desired: 'running', current: true },
    'web on abcdefabcdef: pending',
  ],
];
for (const [name, seen, expected] of lineCases) {
  test(`describeTask: ${name}`, (t) => t.is(describeTask('web', seen, names), expected));
}

test('taskLines: one line per task each time it changes, none for what was printed', (t) => {
  const seen = new Map();
  t.deepEqual(taskLines('web', [task('x1', 'preparing', { at: '1' })], seen, names), ['web.1 on vm (10.213.0.13): preparing']);
  t.deepEqual(taskLines('web', [task('x1', 'preparing', { at: '1' })], seen, names), []);
  t.deepEqual(taskLines('web', [task('x1', 'running', { at: '2' }), task('y2', 'starting', { at: '3' })], seen, names), [
    'web.1 on vm (10.213.0.13): running',
    'web.2 on vm (10.213.0.13): starting',
  ]);
});

const updateCases = [
  [undefined, 2, 2, 'converged'],
  [undefined, 1, 2, 'converging'],
  [{ State: 'completed', Message: 'update completed' }, 2, 2, 'converged'],
  [{ State: 'updating' }, 1, 2, 'updating'],
  [{ State: 'rollback_completed', Message: 'rollback completed' }, 2, 2, 'last update rolled back'],
  [{ State: 'paused', Message: 'update paused due to failure' }, 2, 2, 'update paused: update paused due to failure'],
];
for (const [update, running, desired, expected] of updateCases) {
  test(`describeUpdate: ${update?.State ?? 'no update'}, ${running}/${desired} → ${expected}`, (t) =>
    t.is(describeUpdate(update, running, desired), expected));
}
