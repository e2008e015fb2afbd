import test from 'ava';
import { detectCi } from '../../dist/core/ci.js';
import { chooseRenderer } from '../../dist/runner/renderer.js';

test('CircleCI variables', (t) => {
  t.deepEqual(
    detectCi({
      CI: 'true',
      CIRCLECI: 'true',
      CIRCLE_BRANCH: 'develop',
      CIRCLE_SHA1: 'abc',
      CIRCLE_BUILD_URL: 'https://circleci.com/gh/a/b/1',
    }),
    { provider: 'circleci', branch: 'develop', tag: undefined, sha: 'abc', buildUrl: 'https://circleci.com/gh/a/b/1' },
  );
  t.like(detectCi({ CIRCLECI: 'true', CIRCLE_TAG: 'uat', CIRCLE_BRANCH: '' }), { branch: undefined, tag: 'uat' });
});

test('GitHub Actions: branch pushes, tag pushes and pull requests', (t) => {
  t.like(detectCi({ GITHUB_ACTIONS: 'true', GITHUB_REF_NAME: 'master', GITHUB_REF_TYPE: 'branch' }), {
    provider: 'github-actions',
    branch: 'master',
  });
  t.like(detectCi({ GITHUB_ACTIONS: 'true', GITHUB_REF_NAME: 'uat', GITHUB_REF_TYPE: 'tag' }), { branch: undefined, tag: 'uat' });
  t.like(detectCi({ GITHUB_ACTIONS: 'true', GITHUB_REF_NAME: '12/merge', GITHUB_HEAD_REF: 'feature/x', GITHUB_REF_TYPE: 'branch' }), {
    branch: 'feature/x',
  });
});

test('no CI', (t) => {
  t.deepEqual(detectCi({}), {});
  t.deepEqual(detectCi({ CI: 'false' }), {});
  t.deepEqual(detectCi({ CI: 'true' }), { provider: 'generic' });
});

test('renderer: live list on a terminal, lines in CI and pipes, explicit choice wins', (t) => {
  t.is(chooseRenderer({ isTTY: true, ci: false }), 'default');
  t.is(chooseRenderer({ isTTY: true, ci: true }), 'simple');
  t.is(chooseRenderer({ isTTY: false, ci: false }), 'simple');
  t.is(chooseRenderer({ requested: 'verbose', isTTY: true, ci: false }), 'verbose');
});
