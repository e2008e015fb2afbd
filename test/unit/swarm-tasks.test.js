import test from 'ava';
import { splitDetails } from '../../dist/core/logs.js';
import { chooseTasks, findNode, taskLabel } from '../../dist/core/swarm-tasks.js';

const nodes = [
  { id: 'n1', hostname: 'node-1', address: '10.0.0.1', role: 'web', available: true },
  { id: 'n2', hostname: 'node-2', address: '10.0.0.2', role: 'web', available: true },
];
const names = new Map([
  ['n1', 'node-1'],
  ['n2', 'node-2'],
]);
const task = (id, extra) => ({ id, state: 'running', desired: 'running', current: true, containerId: `c-${id}`, ...extra });

const labelCases = [
  ['a replicated task', { slot: 2, nodeId: 'n1' }, 'node-1 web.2'],
  ['a global task', { nodeId: 'n2' }, 'node-2 web'],
  ['a node the swarm no longer lists', { slot: 1, nodeId: 'abcdefghijklmnop' }, 'abcdefghijkl web.1'],
  ['not placed yet', { slot: 1 }, 'unassigned web.1'],
];
for (const [name, view, expected] of labelCases) {
  test(`taskLabel: ${name}`, (t) => t.is(taskLabel('web', view, names), expected));
}

const tasks = [
  task('b', { slot: 2, nodeId: 'n2' }),
  task('a', { slot: 1, nodeId: 'n1' }),
  task('old', { slot: 1, nodeId: 'n1', state: 'shutdown', desired: 'shutdown' }),
  task('starting', { slot: 3, nodeId: 'n1', state: 'starting', containerId: undefined }),
];
const chooseCases = [
  ['every running task, by slot', tasks, undefined, ['a', 'b']],
  ['the tasks on a node named by hostname', tasks, 'node-2', ['b']],
  ['by address', tasks, '10.0.0.1', ['a']],
  ['a node without a task of it', [tasks[0]], 'node-1', 'web has no running task on node-1; its tasks run on node-2'],
  ['no such node', tasks, 'node-9', 'node-9 is no node of the swarm; its tasks run on node-1, node-2'],
  ['nothing runs', [tasks[2]], undefined, 'web has no running task'],
];
for (const [name, list, host, expected] of chooseCases) {
  test(`chooseTasks: ${name}`, (t) => {
    const chosen = chooseTasks('web', list, nodes, names, host);
    t.deepEqual(typeof chosen === 'string' ? chosen : chosen.map((c) => c.id), expected);
  });
}

test('findNode: by hostname, address, printed name or id', (t) => {
  for (const host of ['node-2', '10.0.0.2', 'n2']) t.is(findNode(nodes, names, host)?.id, 'n2');
  t.is(findNode(nodes, names, 'nope'), undefined);
});

const detailCases = [
  [
    "a service log's line",
    'com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1 listening on 8000',
    { 'com.docker.swarm.node.id': 'n1', 'com.docker.swarm.service.id': 's1', 'com.docker.swarm.task.id': 't1' },
    'listening on 8000',
  ],
  ['query-escaped values', 'team=shop+floor,x=a%2Cb hello world', { team: 'shop floor', x: 'a,b' }, 'hello world'],
  ['an empty line after the details', 'com.docker.swarm.task.id=t1', { 'com.docker.swarm.task.id': 't1' }, ''],
  ['no details: the text as it is', 'GET /health 200', {}, 'GET /health 200'],
  ['only the first word can be details', 'a=b is the rule', { a: 'b' }, 'is the rule'],
];
for (const [name, text, details, rest] of detailCases) {
  test(`splitDetails: ${name}`, (t) => t.deepEqual(splitDetails(text), { details, text: rest }));
}
