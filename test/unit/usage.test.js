import test from 'ava';
import { checkCommand, closestCommand, normalizeArgv } from '../../dist/cli/usage.js';

const suggestions = [
  ['plna', 'plan'],
  ['paln', 'plan'],
  ['pln', 'plan'],
  ['rnu', 'run'],
  ['deplyo', 'deploy'],
  ['depoly', 'deploy'],
  ['Deploy', 'deploy'],
  ['rollbak', 'rollback'],
  ['satus', 'status'],
  ['lokc', 'lock'],
  ['confg', 'config'],
  ['promte', 'promote'],
  ['completions', 'completion'],
  ['xyzzy', undefined],
  ['ru', 'run'],
  ['go', undefined],
  ['building', undefined],
];
for (const [word, expected] of suggestions) {
  test(`closestCommand(${word}) is ${expected ?? 'none'}`, (t) => {
    t.is(closestCommand(word), expected);
  });
}

test('normalizeArgv: pipeline alone and help are --help, help CMD is CMD --help', (t) => {
  t.deepEqual(normalizeArgv([]), ['--help']);
  t.deepEqual(normalizeArgv(['help']), ['--help']);
  t.deepEqual(normalizeArgv(['help', 'run']), ['run', '--help']);
  t.deepEqual(normalizeArgv(['help', 'lock', 'status']), ['lock', 'status', '--help']);
  t.deepEqual(normalizeArgv(['run', '--only', 'deploy']), ['run', '--only', 'deploy']);
});

test('checkCommand lets commands and options through', (t) => {
  for (const argv of [['run'], ['config', '--json'], ['--version'], ['--get-yargs-completions', 'pipeline', 'ru'], ['completion']])
    t.notThrows(() => checkCommand(argv));
  const error = t.throws(() => checkCommand(['plna']));
  t.is(error.name, 'ConfigError');
});
