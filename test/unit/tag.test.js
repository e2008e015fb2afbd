import test from 'ava';
import { branchTag, isDockerTag } from '../../dist/core/tag.js';

const cases = [
  ['develop', 'develop'],
  ['master', 'master'],
  ['feature/rotate_collage_products', 'featurerotate_collage_products'],
  ['feature/x', 'featurex'],
  ['a/b/c', 'abc'],
  ['release/1.2.3', 'release1.2.3'],
  ['fix/ÜBER-bug', 'fix-BER-bug'],
  ['feature/$(touch /tmp/pwned);x', 'feature--touch-tmppwned--x'],
  ['with space', 'with-space'],
  ['.hidden', 'hidden'],
  ['-dash', 'dash'],
  ['/.-./x', 'x'],
  ['_under', '_under'],
  ['UPPER/Case', 'UPPERCase'],
  ['tag:colon', 'tag-colon'],
  ['a@b#c', 'a-b-c'],
  ['x'.repeat(200), 'x'.repeat(128)],
  [`feature/${'y'.repeat(130)}`, `feature${'y'.repeat(121)}`],
];

for (const [branch, expected] of cases) {
  test(`branchTag(${JSON.stringify(branch.length > 40 ? `${branch.slice(0, 40)}…` : branch)})`, (t) => {
    const tag = branchTag(branch);
    t.is(tag, expected);
    t.true(isDockerTag(tag), `${tag} is a valid Docker tag`);
  });
}

for (const branch of ['', '/', '...', '--', '/-/.']) {
  test(`branchTag(${JSON.stringify(branch)}) is an error`, (t) => {
    const error = t.throws(() => branchTag(branch));
    t.is(error.name, 'ConfigError');
    t.regex(error.message, /empty Docker tag/);
  });
}

test('isDockerTag rejects what Docker rejects', (t) => {
  for (const tag of ['', '-x', '.x', 'a/b', 'a:b', 'x'.repeat(129)]) t.false(isDockerTag(tag), tag);
  for (const tag of ['a', '_a', 'A.b-c_d', 'x'.repeat(128)]) t.true(isDockerTag(tag), tag);
});
