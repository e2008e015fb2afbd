import test from 'ava';
import { batchSize, rolloutBatches } from '../../dist/core/rollout.js';

const hosts = ['h1', 'h2', 'h3', 'h4', 'h5'];

const cases = [
  ['no batch: every host at once', hosts, undefined, [['h1', 'h2', 'h3', 'h4', 'h5']]],
  ['a count', hosts, 2, [['h1', 'h2'], ['h3', 'h4'], ['h5']]],
  ['a count of one: host after host', ['h1', 'h2', 'h3'], 1, [['h1'], ['h2'], ['h3']]],
  ['a count above the hosts: one batch', ['h1', 'h2'], 5, [['h1', 'h2']]],
  [
    'a percentage, rounded up',
    hosts,
    '50%',
    [
      ['h1', 'h2', 'h3'],
      ['h4', 'h5'],
    ],
  ],
  ['a small percentage is at least one host', hosts, '1%', [['h1'], ['h2'], ['h3'], ['h4'], ['h5']]],
  ['100%', hosts, '100%', [hosts]],
  ['a single host', ['h1'], '25%', [['h1']]],
  ['no hosts', [], 2, []],
];

for (const [name, members, batch, expected] of cases) {
  test(`rolloutBatches: ${name}`, (t) => {
    t.deepEqual(rolloutBatches(members, batch), expected);
  });
}

test('batchSize keeps every batch between one host and all of them', (t) => {
  for (const [total, batch, size] of [
    [10, '25%', 3],
    [4, '25%', 1],
    [8, 3, 3],
    [3, 0.5, 1],
    [7, undefined, 7],
    [0, 2, 0],
  ]) {
    t.is(batchSize(total, batch), size, `${total} hosts, batch ${batch}`);
  }
});
