import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import dockerignore from '@balena/dockerignore';
import test from 'ava';
import tarStream from 'tar-stream';
import { contextTar } from '../../dist/adapters/context.js';
import { archiveTree, listTree } from '../../dist/adapters/git.js';
import { contextFilter, dockerignorePatterns, exclusionPathspec, gitExclusions } from '../../dist/core/dockerignore.js';

// A committed tree with the names .dockerignore patterns trip over: dots, spaces, regexp characters, non-ASCII,
// names that prefix others, a folder with only logs, a long path, a symlink, an executable, a submodule, and a
// sub-folder that is a context of its own.
const FILES = [
  'Dockerfile',
  'README.md',
  'x.log',
  'a/x.log',
  'a/b/x.log',
  'a/b/c/y.txt',
  'a/b/c/z.log',
  'src/app.js',
  'src/lib/util.js',
  'src/ignored/not-the-top-one.txt',
  'ignored/big.bin',
  'ignored/keep.txt',
  'ignored/deep/more.bin',
  'ignored2',
  'ignoredx/file',
  'logs/a.log',
  'logs/b.log',
  'node_modules/x/index.js',
  'node_modules/x/package.json',
  'docker/Dockerfile',
  'docker/entry.sh',
  'with space/file',
  'é/日本.txt',
  'éa',
  'a+b',
  'x (1).txt',
  '#hash',
  '!bang',
  ':colon',
  '.env',
  '.env.local',
  'foo',
  'foobar',
  'foo.d/z',
  'A/Upper',
  'Ignored/case',
  `deep/${'long-folder-name/'.repeat(8)}file.txt`,
  'sub/Dockerfile',
  'sub/app/main.py',
  'sub/ignored/3',
  'sub/logs/x.log',
  'sub/logs/y.log',
  'sub/keep/k',
  'sub/sub/Dockerfile',
];

let repo;

test.before(() => {
  repo = mkdtempSync(join(tmpdir(), 'pipeline-context-'));
  git('init', '-q', '.');
  for (const file of FILES) {
    mkdirSync(dirname(join(repo, file)), { recursive: true });
    writeFileSync(join(repo, file), `${file}\n`);
  }
  chmodSync(join(repo, 'docker/entry.sh'), 0o755);
  symlinkSync('src/app.js', join(repo, 'link'));
  git('add', '-A');
  // A submodule entry, as a repository with submodules has it (the archive holds it as an empty folder).
  git('update-index', '--add', '--cacheinfo', `160000,${'1'.repeat(40)},vendor/lib`);
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'files');
});

test.after.always(() => {
  if (repo) rmSync(repo, { recursive: true, force: true });
});

function git(...args) {
  return execFileSync('git', args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Commits .dockerignore into the folder and returns the commit. */
function commitIgnore(folder, text) {
  const path = folder ? `${folder}/.dockerignore` : '.dockerignore';
  writeFileSync(join(repo, path), text);
  git('add', path);
  git('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'ignore');
  return git('rev-parse', 'HEAD').trim();
}

/** Every entry of a tar stream, in order: name, type, mode, link and a hash of the content. */
function readTar(stream) {
  return new Promise((resolve, reject) => {
    const entries = [];
    const extract = tarStream.extract();
    extract.on('entry', (header, body, next) => {
      const hash = createHash('sha1');
      body.on('data', (chunk) => hash.update(chunk));
      body.on('end', () => {
        entries.push({
          name: header.name,
          type: header.type,
          mode: header.mode,
          linkname: header.linkname ?? null,
          size: header.size,
          sha1: hash.digest('hex'),
        });
        next();
      });
    });
    extract.on('finish', () => resolve(entries));
    extract.on('error', reject);
    stream.on('error', reject);
    stream.pipe(extract);
  });
}

function archive(sha, folder, pathspecs = []) {
  const child = spawn('git', ['archive', '--format=tar', folder ? `${sha}:${folder}` : sha, ...pathspecs], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return child.stdout;
}

/** The context as the filter alone made it: the whole archive, then @balena/dockerignore on each entry. */
async function filteredWhole(sha, folder, dockerfile, text) {
  const ignore = dockerignore({ ignorecase: false }).add(
    text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#')),
  );
  const keep = new Set([dockerfile.replace(/^\.\//, ''), '.dockerignore']);
  const entries = await readTar(archive(sha, folder));
  const sent = entries.filter((entry) => {
    const path = entry.name.replace(/^\.\//, '').replace(/\/+$/, '');
    return keep.has(path) || !ignore.ignores(path);
  });
  return { sent, left: entries.length - sent.length };
}

async function check(t, { folder = '', dockerfile = 'Dockerfile', ignore, gitLeavesOut }) {
  const sha = commitIgnore(folder, ignore);
  const expected = await filteredWhole(sha, folder, dockerfile, ignore);
  const { tar, excluded } = await contextTar({ repoRoot: repo, sha, folder, dockerfile });
  const actual = await readTar(tar);
  t.deepEqual(actual, expected.sent);
  t.is(excluded(), expected.left);
  const patterns = dockerignorePatterns(ignore);
  const exclusions = gitExclusions(patterns, contextFilter(patterns, dockerfile), await listTree(repo, sha, folder));
  if (gitLeavesOut)
    t.deepEqual(
      exclusions,
      gitLeavesOut.map((glob) => `:(exclude,glob)${glob}`),
    );
  return exclusions;
}

// ---------------------------------------------------------------- chosen .dockerignore files

const cases = [
  ['no .dockerignore patterns', { ignore: '# nothing\n', gitLeavesOut: [] }],
  ['a folder', { ignore: 'ignored\n', gitLeavesOut: ['ignored'] }],
  [
    'a folder with a trailing slash and a leading slash',
    { ignore: '/ignored/\nnode_modules/\n', gitLeavesOut: ['ignored', 'node_modules'] },
  ],
  ['a root-only glob', { ignore: '*.log\n', gitLeavesOut: ['*.log'] }],
  ['a glob at any depth', { ignore: '**/*.log\n', gitLeavesOut: [] }],
  ['a glob at any depth, logs/ itself too', { ignore: '**/*.log\nlogs\n', gitLeavesOut: ['logs'] }],
  ['a folder at any depth', { ignore: '**/ignored\n', gitLeavesOut: ['**/ignored'] }],
  ['everything inside a folder, which is sent empty', { ignore: 'a/**\n', gitLeavesOut: [] }],
  ['everything inside a folder, and the folder', { ignore: 'a/**\na\n', gitLeavesOut: ['a/**', 'a'] }],
  ['** in the middle', { ignore: 'a/**/*.log\n', gitLeavesOut: ['a/**/*.log'] }],
  ['a folder sent empty', { ignore: 'logs/*\nignored\n', gitLeavesOut: ['ignored'] }],
  ['a glob matching folders', { ignore: 'ignore*\n', gitLeavesOut: ['ignore*'] }],
  ['a re-include under an excluded folder', { ignore: 'ignored\n!ignored/keep.txt\nnode_modules\n', gitLeavesOut: ['node_modules'] }],
  [
    'a re-include that is excluded again',
    { ignore: 'ignored\n!ignored/keep.txt\nignored/keep.txt\n', gitLeavesOut: ['ignored', 'ignored/keep.txt'] },
  ],
  ['everything but a few', { ignore: '*\n!src\n!Dockerfile\n', gitLeavesOut: [] }],
  ['everything, the Dockerfile sent anyway', { ignore: '*\n', gitLeavesOut: [] }],
  ['the Dockerfile and .dockerignore excluded', { ignore: 'Dockerfile\n.dockerignore\nignored\n', gitLeavesOut: ['ignored'] }],
  [
    'a Dockerfile in a folder that is excluded',
    { dockerfile: 'docker/Dockerfile', ignore: 'docker\nignored\n', gitLeavesOut: ['ignored'] },
  ],
  ['a Dockerfile given as ./', { dockerfile: './docker/Dockerfile', ignore: 'docker/*\n', gitLeavesOut: [] }],
  ['odd names', { ignore: 'with space\né*\n:colon\n!bang\n#hash\n.env*\n', gitLeavesOut: ['with space', 'é*', ':colon', '.env*'] }],
  ['regexp characters are left to the filter', { ignore: 'a+b\nx (1).txt\n[ab]/x.log\nfo?\n\\#hash\n', gitLeavesOut: [] }],
  ['case matters', { ignore: 'Ignored\n', gitLeavesOut: ['Ignored'] }],
  ['the submodule, its folder sent empty', { ignore: 'vendor/lib\nignored\n', gitLeavesOut: ['ignored'] }],
  ['the submodule and its folder', { ignore: 'vendor/*\nvendor\n', gitLeavesOut: ['vendor/*', 'vendor'] }],
  ['a folder with a long path', { ignore: 'deep\n', gitLeavesOut: ['deep'] }],
  ['a sub-folder context', { folder: 'sub', ignore: 'ignored\nlogs/*\nsub\n', gitLeavesOut: ['ignored', 'sub'] }],
  ['a sub-folder context, paths relative to it', { folder: 'sub', ignore: 'sub/ignored\napp\n', gitLeavesOut: ['sub/ignored', 'app'] }],
  ['a sub-folder context with a re-include', { folder: 'sub', ignore: '*\n!app\n!keep/k\n', gitLeavesOut: [] }],
];

for (const [name, options] of cases) {
  test.serial(`contextTar sends what the filter alone sent: ${name}`, (t) => check(t, options));
}

for (const variable of ['GIT_ICASE_PATHSPECS', 'GIT_LITERAL_PATHSPECS', 'GIT_NOGLOB_PATHSPECS']) {
  test.serial(`contextTar: ${variable}=1 in the environment changes nothing`, async (t) => {
    const sha = commitIgnore('', 'ignored\n');
    const expected = await filteredWhole(sha, '', 'Dockerfile', 'ignored\n');
    process.env[variable] = '1';
    try {
      const { tar } = await contextTar({ repoRoot: repo, sha, folder: '', dockerfile: 'Dockerfile' });
      t.deepEqual(await readTar(tar), expected.sent);
    } finally {
      delete process.env[variable];
    }
  });
}

test.serial('contextTar keeps a folder whose files git leaves out by export-ignore', async (t) => {
  // Given pathspecs, git writes a folder on its way to a file it does not exclude, even one it then does not write.
  const other = mkdtempSync(join(tmpdir(), 'pipeline-context-'));
  try {
    const run = (...args) => execFileSync('git', args, { cwd: other, encoding: 'utf8' });
    run('init', '-q', '.');
    for (const [file, text] of [
      ['Dockerfile', 'FROM x\n'],
      ['.gitattributes', '*.md export-ignore\n'],
      ['.dockerignore', 'ignored\n'],
      ['docs/a.md', 'a\n'],
      ['ignored/big.bin', 'x\n'],
    ]) {
      mkdirSync(dirname(join(other, file)), { recursive: true });
      writeFileSync(join(other, file), text);
    }
    run('add', '-A');
    run('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'files');
    const sha = run('rev-parse', 'HEAD').trim();
    const { tar } = await contextTar({ repoRoot: other, sha, folder: '', dockerfile: 'Dockerfile' });
    t.deepEqual(
      (await readTar(tar)).map((entry) => entry.name),
      ['.dockerignore', '.gitattributes', 'Dockerfile', 'docs/'],
    );
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test.serial('archiveTree leaves the excluded folders out', async (t) => {
  const sha = commitIgnore('', 'ignored\nnode_modules\n');
  const exclusions = gitExclusions(
    ['ignored', 'node_modules'],
    contextFilter(['ignored', 'node_modules'], 'Dockerfile'),
    await listTree(repo, sha, ''),
  );
  const names = (await readTar(archiveTree(repo, sha, '', exclusions))).map((entry) => entry.name);
  t.false(names.some((name) => name.startsWith('ignored/') || name.startsWith('node_modules/')));
  t.true(names.includes('src/ignored/not-the-top-one.txt'));
});

// ---------------------------------------------------------------- git leaves out no more than the pattern

// Every pattern the translation accepts, checked against git itself: what git leaves out with the pathspec is
// excluded by the pattern alone. The patterns are built from segments that match the tree's names in many ways,
// some of them (`?`, classes, regexp characters) ones the translation must refuse.
const SEGMENTS = [
  '*',
  '**',
  '??',
  '???',
  '[aé]*',
  'a+',
  'a',
  'b',
  'c',
  'a*',
  '*.log',
  '*.txt',
  'x*',
  '*o*',
  'ignored',
  'ignore*',
  'logs',
  'src',
  'é*',
  '日本.txt',
  'with space',
  'foo',
  'foo*',
  '.env*',
  'deep',
  'long-folder-name',
  'node_modules',
  'sub',
  'Ignored',
  'vendor',
  '*lib',
  'A',
];

function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let r = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

function randomPattern(next) {
  const pick = (list) => list[Math.floor(next() * list.length)];
  const segments = Array.from({ length: 1 + Math.floor(next() * 3) }, () => pick(SEGMENTS));
  return `${next() < 0.2 ? '/' : ''}${segments.join('/')}${next() < 0.2 ? '/' : ''}`;
}

test.serial('git leaves out no more than the pattern alone excludes', async (t) => {
  const sha = git('rev-parse', 'HEAD').trim();
  const whole = (await readTar(archive(sha, '')))
    .filter((entry) => entry.type !== 'directory')
    .map((entry) => entry.name.replace(/\/$/, ''));
  const next = random(7);
  const patterns = new Set([
    ...cases.flatMap(([, { ignore }]) => dockerignorePatterns(ignore)),
    ...Array.from({ length: 300 }, () => randomPattern(next)),
  ]);
  let checked = 0;
  for (const pattern of patterns) {
    const pathspec = exclusionPathspec(pattern);
    if (!pathspec) continue;
    const alone = dockerignore({ ignorecase: false }).add([pattern]);
    const kept = new Set((await readTar(archive(sha, '', ['.', pathspec]))).map((entry) => entry.name.replace(/\/$/, '')));
    const leftOut = whole.filter((path) => !kept.has(path));
    // When the pattern leaves nothing git refuses it: then the pattern must exclude everything.
    for (const path of leftOut) t.true(alone.ignores(path), `${pathspec} left out ${path}, which ${pattern} does not exclude`);
    checked += 1;
  }
  t.true(checked > 100, `${checked} patterns checked`);
});

// ---------------------------------------------------------------- random .dockerignore files

const LINES = [
  'ignored',
  'ignored/',
  '!ignored/keep.txt',
  '*.log',
  '!x.log',
  '**/*.log',
  '!a/b/x.log',
  'a/**',
  '!a/b',
  'logs/*',
  '!logs/a.log',
  'logs',
  '*',
  '!src',
  '!Dockerfile',
  'Dockerfile',
  '.dockerignore',
  '**/ignored',
  'ignore*',
  'node_modules',
  '!node_modules/x/index.js',
  'src/*/util.js',
  'docker',
  '!docker/entry.sh',
  'vendor/*',
  'é*',
  '.env*',
  '!.env',
  'fo?',
  '[ab]',
  'a/b/c',
  'deep',
  'with space',
  '**',
  '!**/*.txt',
  'sub/*',
  '!sub/keep',
];

test.serial('contextTar sends what the filter alone sent, for random .dockerignore files', async (t) => {
  const next = random(42);
  const pick = (list) => list[Math.floor(next() * list.length)];
  let withExclusions = 0;
  for (let i = 0; i < 80; i += 1) {
    const ignore = `${Array.from({ length: 1 + Math.floor(next() * 6) }, () => pick(LINES)).join('\n')}\n`;
    const [folder, dockerfile] = pick([
      ['', 'Dockerfile'],
      ['', 'docker/Dockerfile'],
      ['sub', 'Dockerfile'],
      ['sub', 'sub/Dockerfile'],
    ]);
    const exclusions = await check(t, { folder, dockerfile, ignore });
    if (exclusions.length > 0) withExclusions += 1;
  }
  t.true(withExclusions > 20, `${withExclusions} of 80 gave git exclusions`);
});
