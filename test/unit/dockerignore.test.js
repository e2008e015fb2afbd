import dockerignore from '@balena/dockerignore';
import test from 'ava';
import { contextFilter, contextPath, dockerignorePatterns, exclusionPathspec, gitExclusions } from '../../dist/core/dockerignore.js';

// ---------------------------------------------------------------- dockerignorePatterns, contextPath

test('dockerignorePatterns keeps trimmed lines, without blanks and comments', (t) => {
  t.deepEqual(dockerignorePatterns('# build output\r\nnode_modules\n\n  dist/  \n  # indented comment\n!dist/keep\n'), [
    'node_modules',
    'dist/',
    '!dist/keep',
  ]);
  t.deepEqual(dockerignorePatterns(undefined), []);
  t.deepEqual(dockerignorePatterns(''), []);
});

test('contextPath is a tar name without ./ and trailing slashes', (t) => {
  t.is(contextPath('./a/b/'), 'a/b');
  t.is(contextPath('a'), 'a');
  t.is(contextPath('./'), '');
});

test('contextFilter always sends the Dockerfile and .dockerignore', (t) => {
  const sent = contextFilter(['*', '!src'], './docker/Dockerfile');
  t.true(sent('docker/Dockerfile'));
  t.true(sent('.dockerignore'));
  t.true(sent('src/app.js'));
  t.false(sent('docker'));
  t.false(sent('README.md'));
});

// ---------------------------------------------------------------- exclusionPathspec

const translated = [
  ['ignored', 'ignored'],
  ['ignored/', 'ignored'],
  ['/ignored', 'ignored'],
  ['./ignored', 'ignored'],
  ['  spaced  ', 'spaced'],
  ['a//b', 'a/b'],
  ['a/./b', 'a/b'],
  ['a/../b', 'b'],
  ['/ a', 'a'],
  ['*.log', '*.log'],
  ['*', '*'],
  ['a/*/c', 'a/*/c'],
  ['**', '**'],
  ['**/*.log', '**/*.log'],
  ['a/**', 'a/**'],
  ['a/**/b', 'a/**/b'],
  ['**/node_modules', '**/node_modules'],
  ['.git', '.git'],
  ['.env.*', '.env.*'],
  ['$HOME', '$HOME'],
  ['with space/x', 'with space/x'],
  ['é*/日本', 'é*/日本'],
  [':colon', ':colon'],
  ['a,b=c@d', 'a,b=c@d'],
];

for (const [pattern, glob] of translated) {
  test(`exclusionPathspec(${JSON.stringify(pattern)}) is :(exclude,glob)${glob}`, (t) => {
    t.is(exclusionPathspec(pattern), `:(exclude,glob)${glob}`);
    // The glob is the pattern as @balena/dockerignore keeps it, so git is asked about the same pattern.
    const [rule] = dockerignore({ ignorecase: false }).add([pattern])._rules;
    t.false(rule.negative);
    t.is(rule.pattern, glob);
  });
}

const untranslated = [
  ['!keep', 're-include'],
  ['!', 'bare !'],
  ['/!keep', 'read as a re-include once cleaned'],
  ['# comment', 'comment'],
  ['/#hash', 'a comment when given alone'],
  ['', 'blank'],
  ['.', 'the whole context'],
  ['./', 'the whole context'],
  ['/', 'root'],
  ['..', 'outside the context'],
  ['../x', 'outside the context'],
  ['a/../../x', 'outside the context'],
  ['a?c', '? is a byte for git'],
  ['[ab]', 'class'],
  ['a[!b]', 'class'],
  ['a\\*b', 'escape'],
  ['a+b', 'regexp'],
  ['a{1,2}', 'regexp'],
  ['x (1)', 'regexp'],
  ['a|b', 'regexp'],
  ['^a', 'regexp'],
  ['a**', '** inside a segment'],
  ['**a', '** inside a segment'],
  ['a/**b', '** inside a segment'],
  ['***', '** inside a segment'],
  ['tab\there', 'control character'],
];

for (const [pattern, why] of untranslated) {
  test(`exclusionPathspec(${JSON.stringify(pattern)}) is undefined (${why})`, (t) => {
    t.is(exclusionPathspec(pattern), undefined);
  });
}

// ---------------------------------------------------------------- gitExclusions

/** The entries git ls-tree -r -t lists for these files (folders first, as git does). */
function tree(files, { submodules = [], emptyFolders = [] } = {}) {
  const entries = [];
  const seen = new Set();
  for (const [path, type] of [...files.map((f) => [f, 'blob']), ...submodules.map((s) => [s, 'commit'])]) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i += 1) {
      const folder = parts.slice(0, i).join('/');
      if (!seen.has(folder)) entries.push({ path: folder, type: 'tree' });
      seen.add(folder);
    }
    entries.push({ path, type });
  }
  for (const folder of emptyFolders) entries.push({ path: folder, type: 'tree' });
  return entries;
}

const APP = tree([
  '.dockerignore',
  'Dockerfile',
  'README.md',
  'src/app.js',
  'src/lib/util.js',
  'ignored/big.bin',
  'ignored/keep.txt',
  'ignored/deep/more.bin',
  'logs/a.log',
  'logs/b.log',
  'node_modules/x/index.js',
  'docker/Dockerfile',
]);

const exclusionCases = [
  ['a folder', ['ignored'], APP, ['ignored']],
  ['several', ['node_modules', '.git', 'ignored/'], APP, ['node_modules', '.git', 'ignored']],
  ['the same pattern twice', ['ignored', '/ignored/'], APP, ['ignored']],
  ['a re-include under the pattern', ['ignored', '!ignored/keep.txt'], APP, []],
  ['a re-include elsewhere', ['ignored', 'node_modules', '!node_modules/x/index.js'], APP, ['ignored']],
  ['a re-include that matches no committed file', ['ignored', '!ignored/not-committed'], APP, ['ignored']],
  ['a re-include before the pattern', ['ignored/*', '!ignored/keep.txt', 'ignored'], APP, ['ignored/*', 'ignored']],
  ['everything but src', ['*', '!src'], APP, []],
  ['the Dockerfile', ['Dockerfile', 'ignored'], APP, ['ignored']],
  ['.dockerignore', ['.dockerignore', 'ignored'], APP, ['ignored']],
  ['** matches the Dockerfile', ['**'], APP, []],
  ['root-only glob', ['*.md', 'ignored'], APP, ['*.md', 'ignored']],
  ['a folder sent without its files', ['logs/*', 'ignored'], APP, ['ignored']],
  ['a folder sent without its files, by **', ['**/*.log'], APP, []],
  ['the folder itself', ['logs'], APP, ['logs']],
  ['a glob with one of its files re-included', ['logs/*', '!logs/a.log'], APP, []],
  ['untranslatable patterns', ['ignored/?ig.bin', 'node_modules/[x]', '!src'], APP, []],
];

for (const [name, patterns, entries, globs] of exclusionCases) {
  test(`gitExclusions: ${name}`, (t) => {
    t.deepEqual(
      gitExclusions(patterns, contextFilter(patterns, 'Dockerfile'), entries),
      globs.map((glob) => `:(exclude,glob)${glob}`),
    );
  });
}

test('gitExclusions keeps the Dockerfile wherever it is', (t) => {
  const patterns = ['docker', 'ignored'];
  t.deepEqual(gitExclusions(patterns, contextFilter(patterns, 'docker/Dockerfile'), APP), [':(exclude,glob)ignored']);
  t.deepEqual(gitExclusions(patterns, contextFilter(patterns, 'Dockerfile'), APP), [':(exclude,glob)docker', ':(exclude,glob)ignored']);
});

test('gitExclusions gives nothing when nothing would be sent', (t) => {
  const entries = tree(['ignored/a', 'ignored/b']);
  t.deepEqual(gitExclusions(['ignored'], contextFilter(['ignored'], 'Dockerfile'), entries), []);
});

test('gitExclusions gives nothing when a folder Docker sends holds no file', (t) => {
  const entries = tree(['Dockerfile', 'ignored/a'], { emptyFolders: ['empty'] });
  t.deepEqual(gitExclusions(['ignored'], contextFilter(['ignored'], 'Dockerfile'), entries), []);
  t.deepEqual(gitExclusions(['ignored', 'empty'], contextFilter(['ignored', 'empty'], 'Dockerfile'), entries), [
    ':(exclude,glob)ignored',
    ':(exclude,glob)empty',
  ]);
});

test('gitExclusions counts a submodule as a file that keeps its folder', (t) => {
  const entries = tree(['Dockerfile', 'vendor/big.bin'], { submodules: ['vendor/lib'] });
  const patterns = ['vendor/*.bin'];
  t.deepEqual(gitExclusions(patterns, contextFilter(patterns, 'Dockerfile'), entries), [':(exclude,glob)vendor/*.bin']);
  const all = ['vendor/*'];
  t.deepEqual(gitExclusions(all, contextFilter(all, 'Dockerfile'), entries), []);
});

test('gitExclusions with no translatable pattern gives nothing and needs no tree', (t) => {
  t.deepEqual(
    gitExclusions(['!x', 'a?'], () => true, []),
    [],
  );
});
