import test from 'ava';
import { formatImageRef, parseImageRef, repositoryOf, tagOf } from '../../dist/core/image-ref.js';
import { newRelease, pinnedRef, releaseRef } from '../../dist/core/release.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const cases = [
  ['shopping-tool', { path: 'shopping-tool' }],
  ['allume/shopping-tool:develop', { path: 'allume/shopping-tool', tag: 'develop' }],
  ['registry.example.com/allume/shopping-tool', { registry: 'registry.example.com', path: 'allume/shopping-tool' }],
  ['registry:5000/allume/shopping-tool', { registry: 'registry:5000', path: 'allume/shopping-tool' }],
  ['10.213.0.1:5000/allume/shopping-tool:featurex', { registry: '10.213.0.1:5000', path: 'allume/shopping-tool', tag: 'featurex' }],
  ['localhost/app:1', { registry: 'localhost', path: 'app', tag: '1' }],
  [`registry:5000/app@${DIGEST}`, { registry: 'registry:5000', path: 'app', digest: DIGEST }],
  [`registry:5000/app:develop@${DIGEST}`, { registry: 'registry:5000', path: 'app', tag: 'develop', digest: DIGEST }],
  ['docker.elastic.co/logstash/logstash:7.17.0', { registry: 'docker.elastic.co', path: 'logstash/logstash', tag: '7.17.0' }],
  ['library/node:24-slim', { path: 'library/node', tag: '24-slim' }],
];

for (const [ref, expected] of cases) {
  test(`parseImageRef(${ref})`, (t) => {
    t.deepEqual(parseImageRef(ref), expected);
    t.is(formatImageRef(parseImageRef(ref)), ref, 'formats back to what it read');
  });
}

test('repositoryOf and tagOf: a registry port is not a tag; no tag reads as latest', (t) => {
  t.is(repositoryOf(parseImageRef('registry:5000/allume/app:1.2')), 'registry:5000/allume/app');
  t.is(tagOf('registry:5000/allume/app'), 'latest');
  t.is(tagOf('registry:5000/allume/app:1.2'), '1.2');
});

test('a release: its ref, and its pinned ref once the digest is known', (t) => {
  const release = newRelease('registry:5000/allume/app', 'develop', { commit: 'abc' });
  t.deepEqual(release, { repository: 'registry:5000/allume/app', tag: 'develop', commit: 'abc' });
  t.is(releaseRef(release), 'registry:5000/allume/app:develop');
  t.is(pinnedRef(release), 'registry:5000/allume/app:develop', 'without a digest the tag is all there is');
  t.is(pinnedRef({ ...release, digest: DIGEST }), `registry:5000/allume/app@${DIGEST}`);
});
