import test from 'ava';
import { Relay } from '../../dist/core/relay.js';

test('a follower hears the lines from now on, and the latest one at once while the work runs', (t) => {
  const relay = new Relay();
  const first = [];
  const second = [];
  relay.write('a');
  relay.follow((line) => first.push(line));
  relay.write('b');
  relay.follow((line) => second.push(line));
  relay.write('c');
  t.deepEqual(first, ['a', 'b']);
  t.deepEqual(second, ['b', 'c']);
});

test('once the work has ended, a new follower is not told its last line again', (t) => {
  const relay = new Relay();
  const lines = [];
  relay.write('done');
  relay.end();
  relay.follow((line) => lines.push(line));
  t.deepEqual(lines, []);
});
