import test from 'ava';
import { gitReason } from '../../dist/adapters/git.js';
import { describeMove } from '../../dist/cli/promote.js';

test('describeMove says where the remote tag was and where it is now', (t) => {
  const a = '1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d';
  const b = '9f8e7d6c5b4a9f8e7d6c5b4a9f8e7d6c5b4a9f8e';
  for (const [before, after, expected] of [
    [a, b, 'uat: 1a2b3c4d5e6f → 9f8e7d6c5b4a, pushed to origin'],
    [undefined, b, 'uat: new tag at 9f8e7d6c5b4a, pushed to origin'],
    [b, b, 'uat: already at 9f8e7d6c5b4a, pushed again to origin'],
  ])
    t.is(describeMove('uat', before, after, 'origin'), expected);
});

test("gitReason picks the line of git's stderr that says why", (t) => {
  for (const [stderr, expected] of [
    [
      "fatal: 'nowhere' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\n",
      "'nowhere' does not appear to be a git repository",
    ],
    [
      "remote: frozen        \nTo /tmp/origin.git\n ! [remote rejected] uat -> uat (pre-receive hook declined)\nerror: failed to push some refs to '/tmp/origin.git'\n",
      '[remote rejected] uat -> uat (pre-receive hook declined)',
    ],
    [
      'To github.com:allume/shopping-tool.git\n ! [rejected]        uat -> uat (already exists)\nhint: Updates were rejected because the tag already exists in the remote.\n',
      '[rejected] uat -> uat (already exists)',
    ],
    ['*** Please tell me who you are.\n\nfatal: unable to auto-detect email address\n', 'unable to auto-detect email address'],
    ['something unexpected\n', 'something unexpected'],
    ['', 'git failed'],
  ])
    t.is(gitReason(stderr), expected);
});
