// Container logs: the Engine's multiplexed frames, its timestamps, and lines of several hosts merged in time order.
import test from 'ava';
import { demuxFrames, mergeByTime, sinceSeconds, sortableTime, timestampedLines } from '../../dist/core/logs.js';

const frame = (stream, text) => {
  const body = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream === 'stderr' ? 2 : 1;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
};

test('demuxFrames: each frame with its stream; a truncated last frame is left out', (t) => {
  const buffer = Buffer.concat([
    frame('stdout', 'one\n'),
    frame('stderr', 'two\n'),
    frame('stdout', 'thrée\n'),
    frame('stdout', 'cut').subarray(0, 9),
  ]);
  t.deepEqual(demuxFrames(buffer), [
    { stream: 'stdout', text: 'one\n' },
    { stream: 'stderr', text: 'two\n' },
    { stream: 'stdout', text: 'thrée\n' },
  ]);
  t.deepEqual(demuxFrames(Buffer.alloc(0)), []);
});

test("timestampedLines: the Engine's timestamp off each line; a line without one keeps its text", (t) => {
  t.deepEqual(timestampedLines('2024-05-01T10:00:00.123456789Z web: up\n2024-05-01T10:00:01Z  indented\r\n', 'stdout'), [
    { time: '2024-05-01T10:00:00.123456789Z', stream: 'stdout', text: 'web: up' },
    { time: '2024-05-01T10:00:01Z', stream: 'stdout', text: ' indented' },
  ]);
  t.deepEqual(timestampedLines('no time here\n', 'stderr'), [{ time: '', stream: 'stderr', text: 'no time here' }]);
  t.deepEqual(
    timestampedLines('2024-05-01T10:00:00Z \n', 'stdout'),
    [{ time: '2024-05-01T10:00:00Z', stream: 'stdout', text: '' }],
    'an empty line stays',
  );
});

for (const [time, sortable] of [
  ['2024-05-01T10:00:05.1Z', '2024-05-01T10:00:05.100000000Z'],
  ['2024-05-01T10:00:05.09Z', '2024-05-01T10:00:05.090000000Z'],
  ['2024-05-01T10:00:05Z', '2024-05-01T10:00:05.000000000Z'],
  ['2024-05-01T10:00:05.123456789Z', '2024-05-01T10:00:05.123456789Z'],
]) {
  test(`sortableTime(${time})`, (t) => t.is(sortableTime(time), sortable));
}

test("mergeByTime: one list in time order, whatever the fractions' lengths; equal times keep their sources' order", (t) => {
  const h1 = [
    { time: '2024-05-01T10:00:05.09Z', text: 'h1 a' },
    { time: '2024-05-01T10:00:07Z', text: 'h1 b' },
  ];
  const h2 = [
    { time: '2024-05-01T10:00:05.1Z', text: 'h2 a' },
    { time: '2024-05-01T10:00:07Z', text: 'h2 b' },
    { time: '2024-05-01T10:00:08.5Z', text: 'h2 c' },
  ];
  const h3 = [{ time: '2024-05-01T10:00:04.999999999Z', text: 'h3 a' }];
  t.deepEqual(
    mergeByTime([h1, h2, h3]).map((line) => line.text),
    ['h3 a', 'h1 a', 'h2 a', 'h1 b', 'h2 b', 'h2 c'],
  );
  t.deepEqual(mergeByTime([]), []);
});

const NOW = Date.parse('2024-05-01T10:00:00Z');
for (const [text, seconds] of [
  ['10m', NOW / 1000 - 600],
  ['1h', NOW / 1000 - 3600],
  ['2024-04-30T12:00:00Z', Date.parse('2024-04-30T12:00:00Z') / 1000],
  ['2024-04-30', Date.parse('2024-04-30') / 1000],
  ['yesterday', undefined],
  ['10', undefined],
]) {
  test(`sinceSeconds(${text})`, (t) => t.is(sinceSeconds(text, NOW), seconds));
}
