import test from 'ava';
import { followTransfer, formatBytes, formatTransfer, NEW_TRANSFER, transferEnd, transferStep } from '../../dist/core/transfer.js';

const MB = 1_000_000;
const policy = { step: 0.1, everyMs: 5_000, minBytes: MB };

/** Runs events (with the time each arrives) through the aggregator; returns the reports given and the end report. */
function run(events) {
  let state = NEW_TRANSFER;
  const reports = [];
  for (const [at, event] of events) {
    const step = transferStep(state, event, at, policy);
    state = step.state;
    if (step.report) reports.push({ at, ...step.report });
  }
  return { reports, end: transferEnd(state, events.at(-1)?.[0] ?? 0) };
}

const moving = (id, current, total, status = 'Downloading') => ({ id, status, progressDetail: { current, total } });

const cases = [
  {
    title: 'one layer: a report at each tenth, not at each event',
    events: Array.from({ length: 100 }, (_, i) => [i * 10, moving('a', (i + 1) * MB, 100 * MB)]),
    reported: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100].map((n) => n * MB),
  },
  {
    title: 'a slow transfer: every 5 s while bytes move, even between tenths',
    events: Array.from({ length: 30 }, (_, i) => [i * 1000, moving('a', (i + 1) * MB, 1000 * MB)]),
    reported: [6, 11, 16, 21, 26].map((n) => n * MB),
  },
  {
    title: 'no bytes moved, no report, however long it takes',
    events: [
      [0, { id: 'a', status: 'Waiting' }],
      [60_000, { id: 'a', status: 'Waiting' }],
    ],
    reported: [],
  },
  {
    title: 'layers that exist already add nothing; the total is the layers that move',
    events: [
      [0, { id: 'a', status: 'Already exists' }],
      [0, moving('b', 5 * MB, 10 * MB)],
      [10, { id: 'b', status: 'Download complete' }],
    ],
    reported: [5 * MB, 10 * MB],
  },
  {
    title: 'pushes count `Pushing` and end at `Pushed`; `Layer already exists` adds nothing',
    events: [
      [0, { id: 'x', status: 'Layer already exists' }],
      [0, moving('a', 2 * MB, 4 * MB, 'Pushing')],
      [5, { id: 'a', status: 'Pushed' }],
    ],
    reported: [2 * MB, 4 * MB],
  },
  {
    title: 'a small transfer is reported only at its end',
    events: [
      [0, moving('a', 1000, 2000)],
      [1, moving('a', 2000, 2000)],
    ],
    reported: [],
  },
  {
    title: 'extraction after a pull is not counted again',
    events: [
      [0, moving('a', 10 * MB, 10 * MB)],
      [1, { id: 'a', status: 'Extracting', progressDetail: { current: 5 * MB, total: 10 * MB } }],
    ],
    reported: [10 * MB],
  },
];

for (const { title, events, reported } of cases) {
  test(title, (t) => {
    t.deepEqual(
      run(events).reports.map((r) => r.done),
      reported,
    );
  });
}

test('the total grows as layers start; done never goes back', (t) => {
  const { reports } = run([
    [0, moving('a', 5 * MB, 10 * MB)],
    [10, moving('b', 1 * MB, 10 * MB)],
    [20, moving('a', 4 * MB, 10 * MB)],
    [30, moving('b', 10 * MB, 10 * MB)],
  ]);
  t.deepEqual(
    reports.map((r) => [r.done, r.total]),
    [
      [5 * MB, 10 * MB],
      [15 * MB, 20 * MB],
    ],
  );
});

test('the rate is bytes over the time since the first byte; the end report is final', (t) => {
  const { reports, end } = run([
    [1000, moving('a', 10 * MB, 20 * MB)],
    [3000, moving('a', 20 * MB, 20 * MB)],
  ]);
  t.is(reports.at(-1).bytesPerSecond, 10 * MB);
  t.like(end, { done: 20 * MB, total: 20 * MB, bytesPerSecond: 10 * MB, final: true });
  t.is(run([[0, { id: 'a', status: 'Already exists' }]]).end, undefined, 'nothing moved: no end report');
});

test('formats sizes and reports as docker does (powers of 1000)', (t) => {
  t.is(formatBytes(512), '512 B');
  t.is(formatBytes(12_345), '12.3 kB');
  t.is(formatBytes(64_000_000), '64.0 MB');
  t.is(formatBytes(1_500_000_000), '1.5 GB');
  t.is(
    formatTransfer({ done: 12_300_000, total: 64_000_000, bytesPerSecond: 30_500_000, final: false }),
    '12.3 MB of 64.0 MB (19%), 30.5 MB/s',
  );
  t.is(formatTransfer({ done: 64_000_000, total: 64_000_000, bytesPerSecond: 30_500_000, final: true }), '64.0 MB done, 30.5 MB/s');
});

test('followTransfer: a bounded number of lines for many events, the last one at the end', (t) => {
  const lines = [];
  let now = 0;
  const transfer = followTransfer(
    (line) => lines.push(line),
    () => now,
    policy,
  );
  for (let i = 1; i <= 1000; i += 1) {
    now = i;
    transfer.event(moving('a', i * 100_000, 100 * MB));
  }
  transfer.end();
  t.is(lines.length, 11);
  t.is(lines[0], '10.0 MB of 100.0 MB (10%), 101.0 MB/s', '10 MB in the 99 ms since the first byte');
  t.regex(lines.at(-1), /^100\.0 MB done/);
});
