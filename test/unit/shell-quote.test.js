import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { shellCommand, shellQuote } from '../../dist/core/shell-quote.js';

// ---------------------------------------------------------------- shellQuote

const quoting = [
  ['plain', 'plain', "'plain'"],
  ['empty string', '', "''"],
  ['command substitution', '$(touch /tmp/pwned);x', "'$(touch /tmp/pwned);x'"],
  ['backticks', '`id`', "'`id`'"],
  ['single quote', "it's", "'it'\\''s'"],
  ['only a single quote', "'", "''\\'''"],
  ['two single quotes', "''", "''\\'''\\'''"],
  ['double quotes', '"quoted"', '\'"quoted"\''],
  ['space', 'two words', "'two words'"],
  ['only spaces', '  ', "'  '"],
  ['tab', 'a\tb', "'a\tb'"],
  ['newline', 'a\nb', "'a\nb'"],
  ['variables and globs', '$HOME * ?', "'$HOME * ?'"],
  ['command separators', 'a; b && c || d', "'a; b && c || d'"],
  ['pipe and redirections', 'a | b > c < d 2>&1', "'a | b > c < d 2>&1'"],
  ['background and subshell', '(sleep 1) &', "'(sleep 1) &'"],
  ['brace and tilde expansion', '~/{a,b}', "'~/{a,b}'"],
  ['comment', '#not a comment', "'#not a comment'"],
  ['history and brackets', '!1 [ab]', "'!1 [ab]'"],
  ['backslashes', 'a\\b\\', "'a\\b\\'"],
  ['leading dash', '-rf', "'-rf'"],
  ['unicode', 'grüße ✓', "'grüße ✓'"],
];
for (const [name, arg, quoted] of quoting) {
  test(`shellQuote: ${name}`, (t) => {
    t.is(shellQuote(arg), quoted);
  });
}

test('shellQuote refuses a NUL byte, which a remote command line cannot carry', (t) => {
  const error = t.throws(() => shellQuote('a\0b'));
  t.is(error.name, 'ConfigError');
});

// ---------------------------------------------------------------- shellCommand

const commands = [
  ['one word', ['true'], "'true'"],
  ['words joined by one space', ['docker', 'ps', '-q'], "'docker' 'ps' '-q'"],
  ['an empty argument stays an argument', ['printf', ''], "'printf' ''"],
  ['an argument with spaces stays one argument', ['echo', 'a b'], "'echo' 'a b'"],
  ['metacharacters are not operators', ['echo', ';', '|', '&&'], "'echo' ';' '|' '&&'"],
];
for (const [name, argv, command] of commands) {
  test(`shellCommand: ${name}`, (t) => {
    t.is(shellCommand(argv), command);
  });
}

test('shellCommand output is read back by a real POSIX shell as the same words, running nothing', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shell-quote-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const marker = join(dir, 'pwned');
  const words = [
    `$(touch ${marker});x`,
    `\`touch ${marker}\``,
    `; touch ${marker}`,
    `| touch ${marker}`,
    `&& touch ${marker}`,
    "it's",
    "'",
    "''",
    '"',
    '\\',
    'a\nb\n',
    '',
    ' ',
    '*',
    '$HOME',
    '~',
    '#comment',
    '-n',
    'grüße',
  ];
  // printf '%s\0' prints each argument NUL-terminated, so the words come back exactly.
  const out = execFileSync('sh', ['-c', shellCommand(['printf', '%s\\0', ...words])]);
  t.deepEqual(out.toString('utf8').split('\0').slice(0, -1), words);
  t.false(existsSync(marker), 'no injected command ran');
});

test('shellCommand refuses a NUL byte in any argument', (t) => {
  const error = t.throws(() => shellCommand(['echo', 'ok', 'a\0b']));
  t.is(error.name, 'ConfigError');
});

test('shellCommand refuses an empty argv', (t) => {
  const error = t.throws(() => shellCommand([]));
  t.is(error.name, 'ConfigError');
});
