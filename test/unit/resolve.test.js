import test from 'ava';
import { validateConfig } from '../../dist/config/schema.js';
import { deployTagFor, findEnvironment, resolveEnvironments } from '../../dist/core/resolve.js';
import { documentedConfig } from '../fixtures/configs.js';

const config = validateConfig(documentedConfig());

const cases = [
  [{ branch: 'develop', tags: [] }, ['qa']],
  [{ branch: 'master', tags: [] }, ['production']],
  [{ branch: 'feature/x', tags: [] }, []],
  [{ branch: 'feature/x', tags: ['uat'] }, ['uat']],
  [{ branch: 'develop', tags: ['uat', 'v1'] }, ['qa', 'uat']],
  [{ branch: undefined, tags: ['uat'] }, ['uat']],
  [{ branch: 'developer', tags: ['uat-old'] }, []],
];

for (const [revision, expected] of cases) {
  test(`resolveEnvironments(${JSON.stringify(revision)}) → ${expected.join(', ') || 'nothing'}`, (t) => {
    t.deepEqual(resolveEnvironments(config, revision), expected);
  });
}

test('glob patterns match branches with slashes', (t) => {
  const raw = documentedConfig();
  raw.environments.qa.on.branches = ['release/*', 'hotfix/**'];
  const globbed = validateConfig(raw);
  t.deepEqual(resolveEnvironments(globbed, { branch: 'release/1.2', tags: [] }), ['qa']);
  t.deepEqual(resolveEnvironments(globbed, { branch: 'release/1.2/x', tags: [] }), []);
  t.deepEqual(resolveEnvironments(globbed, { branch: 'hotfix/a/b', tags: [] }), ['qa']);
  t.deepEqual(resolveEnvironments(globbed, { branch: 'develop', tags: [] }), []);
});

test('findEnvironment knows names and aliases', (t) => {
  t.is(findEnvironment(config, 'qa'), 'qa');
  t.is(findEnvironment(config, 'stage'), 'qa');
  t.is(findEnvironment(config, 'local'), 'local');
  const error = t.throws(() => findEnvironment(config, 'staging'));
  t.is(error.name, 'ConfigError');
  t.is(error.message, 'unknown environment "staging"; known: local, qa (stage), production, uat');
});

test('deployTagFor: --docker-tag, else the built tag, else defaultTag', (t) => {
  t.is(deployTagFor(config, 'qa', 'feature/rotate_collage_products'), 'featurerotate_collage_products');
  t.is(deployTagFor(config, 'qa', undefined, 'featurex'), 'featurex');
  t.is(deployTagFor(config, 'qa'), 'develop');
  t.is(deployTagFor(config, 'production'), 'master');
  t.throws(() => deployTagFor(config, 'local'), { message: /local has no defaultTag: pass --docker-tag/ });
});
