import test from 'ava';
import { lastLine, lineBatcher } from '../../dist/core/lines.js';

function collect(chunks) {
  const batches = [];
  const batcher = lineBatcher((lines) => batches.push(lines));
  for (const chunk of chunks) batcher.write(chunk);
  batcher.flush();
  return batches;
}

test('hands on the whole lines of each chunk at once', (t) => {
  t.deepEqual(collect(['a\nb\nc\n', 'd\n']), ['a\nb\nc', 'd']);
});

test('joins a line split across chunks and keeps the rest for the next chunk', (t) => {
  t.deepEqual(collect(['one\ntw', 'o\nthr', 'ee']), ['one', 'two', 'three']);
});

test('a chunk without a line end is held until one comes', (t) => {
  t.deepEqual(collect(['ab', 'cd', 'ef\n']), ['abcdef']);
});

test('CRLF ends lines like LF, also when split between chunks', (t) => {
  t.deepEqual(collect(['a\r\nb\r', '\nc\r\n']), ['a', 'b\nc']);
});

test('empty lines inside a chunk are kept; nothing is handed on for no lines', (t) => {
  t.deepEqual(collect(['a\n\nb\n']), ['a\n\nb']);
  t.deepEqual(collect([]), []);
  t.deepEqual(collect(['']), []);
});

test('accepts buffers', (t) => {
  t.deepEqual(collect([Buffer.from('x\ny')]), ['x', 'y']);
});

test('lastLine is the text after the last line end', (t) => {
  t.is(lastLine('a\nb\nc'), 'c');
  t.is(lastLine('only'), 'only');
  t.is(lastLine('a\n'), '');
});
