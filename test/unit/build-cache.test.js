import test from 'ava';
import { buildKitFeature, cacheCandidates, isMissingImage } from '../../dist/core/build-cache.js';

const image = 'registry:5000/allume/shopping-tool';
const env = (defaultTag) => ({
  aliases: [],
  on: { branches: [], tags: [] },
  hosts: {},
  env: {},
  secrets: [],
  ...(defaultTag ? { defaultTag } : {}),
});
const config = (extra = {}) => ({
  image,
  registry: { server: 'registry:5000', username: 'ci', password: 'x' },
  build: { context: '.', dockerfile: 'Dockerfile', args: {}, cache: true },
  environments: { local: env(), qa: env('develop'), production: env('master'), uat: env('develop') },
  ...extra,
});

const candidates = [
  {
    title: 'the branch tag first, then each defaultTag once, in config order',
    config: config(),
    tag: 'featurey',
    want: ['featurey', 'develop', 'master'],
  },
  { title: 'a branch that is also a defaultTag is not asked twice', config: config(), tag: 'develop', want: ['develop', 'master'] },
  {
    title: 'defaultTags are made valid tags like branches (slashes removed)',
    config: config({ environments: { qa: env('release/1.2') } }),
    tag: 'x',
    want: ['x', 'release1.2'],
  },
  { title: 'no registry: no cache', config: config({ registry: undefined }), tag: 'develop', want: [] },
  {
    title: 'build.cache: false: no cache',
    config: config({ build: { context: '.', dockerfile: 'Dockerfile', args: {}, cache: false } }),
    tag: 'develop',
    want: [],
  },
  {
    title: 'no environment with a defaultTag: the branch alone',
    config: config({ environments: { local: env() } }),
    tag: 'main',
    want: ['main'],
  },
];

for (const { title, config: c, tag, want } of candidates) {
  test(`cache candidates: ${title}`, (t) => {
    t.deepEqual(
      cacheCandidates(c, tag),
      want.map((w) => `${image}:${w}`),
    );
  });
}

const dockerfiles = [
  { title: 'a classic Dockerfile', text: 'FROM node:20\nRUN npm ci\nCOPY . .\n', want: undefined },
  {
    title: 'a syntax directive',
    text: '# syntax=docker/dockerfile:1.7\nFROM node:20\n',
    want: 'the parser directive "# syntax=docker/dockerfile:1.7"',
  },
  {
    title: 'a syntax directive after another directive',
    text: '# escape=\\\n#syntax = docker/dockerfile:1\nFROM x\n',
    want: 'the parser directive "# syntax=docker/dockerfile:1"',
  },
  { title: 'a syntax comment after the first instruction is a comment', text: 'FROM x\n# syntax=docker/dockerfile:1\n', want: undefined },
  { title: 'a syntax comment after a blank line is a comment', text: '\n# syntax=docker/dockerfile:1\nFROM x\n', want: undefined },
  { title: 'RUN --mount', text: 'FROM x\nRUN --mount=type=cache,target=/root/.npm npm ci\n', want: 'RUN --mount' },
  {
    title: 'lower-case run with --network after another flag',
    text: 'FROM x\nrun --security=insecure --network=none true\n',
    want: 'RUN --security',
  },
  { title: 'RUN --mount on a continuation line', text: 'FROM x\nRUN \\\n  --mount=type=secret,id=npm \\\n  npm ci\n', want: 'RUN --mount' },
  { title: "--mount in a command is the command's", text: 'FROM x\nRUN mount --mount-proc /proc && echo --mount\n', want: undefined },
  { title: 'COPY --link', text: 'FROM x\nCOPY --link --chown=1 a b\n', want: 'COPY --link' },
  { title: 'a here-document', text: 'FROM x\nRUN <<EOF\necho hi\nEOF\n', want: 'a here-document (RUN <<…)' },
  { title: "a here-string in a command is the shell's", text: 'FROM x\nRUN cat <<< "hi"\n', want: undefined },
  { title: 'a commented-out RUN --mount', text: 'FROM x\n# RUN --mount=type=cache npm ci\nRUN npm ci\n', want: undefined },
];

for (const { title, text, want } of dockerfiles) {
  test(`BuildKit: ${title}`, (t) => {
    t.is(buildKitFeature(text), want);
  });
}

test('a missing tag or repository is told from other pull failures', (t) => {
  t.true(isMissingImage('manifest for registry:5000/a/b:featurey not found: manifest unknown: manifest unknown'));
  t.true(isMissingImage('repository registry:5000/nobody/app not found: name unknown: repository name not known to registry'));
  t.true(isMissingImage("pull access denied for x, repository does not exist or may require 'docker login'"));
  t.false(isMissingImage('Get "https://registry:5000/v2/": dial tcp 10.0.0.1:5000: connect: connection refused'));
  t.false(isMissingImage('unauthorized: authentication required'));
});
