// The lock's decisions over a fake host: which commands it sends, what it makes of the answers.
// (The scripts themselves run on real hosts in test/integration/lock.test.js.)
import test from 'ava';
import { acquireLock, parseLock, recordOf, recordStart, removeLock, renewLock } from '../../dist/deploy/lock.js';

const now = new Date('2030-01-01T12:00:00.000Z');
const dir = '.pipeline/locks/shop-qa';
const lock = {
  id: 'mine',
  environment: 'qa',
  holder: { user: 'me', machine: 'laptop' },
  acquiredAt: '2030-01-01T12:00:00.000Z',
  expiresAt: '2030-01-01T12:15:00.000Z',
};
const other = {
  id: 'other',
  environment: 'qa',
  holder: { user: 'alice', machine: 'alice-laptop' },
  acquiredAt: '2030-01-01T11:50:00.000Z',
  expiresAt: '2030-01-01T12:05:00.000Z',
};
const expired = { ...other, expiresAt: '2030-01-01T11:59:59.000Z' };

/** A host that answers each command with the next of `answers`, recording what it was sent. */
function fakeHost(...answers) {
  const sent = [];
  const exec = async (argv, options = {}) => {
    sent.push({ argv, ...options });
    const answer = answers.shift();
    if (!answer) throw new Error(`unexpected command ${argv.join(' ')}`);
    return { stdout: '', stderr: '', ...answer };
  };
  return { exec, sent };
}

test('a free lock is taken in one command: a script with the lock folder as argument and the record on stdin', async (t) => {
  const host = fakeHost({ code: 0 });
  t.deepEqual(await acquireLock(host.exec, dir, lock, now), { acquired: true });
  t.is(host.sent.length, 1);
  const [{ argv, stdin, timeoutMs }] = host.sent;
  t.deepEqual(argv.slice(0, 2), ['sh', '-c']);
  t.deepEqual(argv.slice(3), ['sh', dir, '.pipeline/locks/.staging-mine', '', '']);
  t.is(stdin, recordOf(lock));
  t.true(timeoutMs > 0);
});

test('a held lock answers with its holder, in the same command', async (t) => {
  const host = fakeHost({ code: 3, stdout: JSON.stringify(other) });
  t.deepEqual(await acquireLock(host.exec, dir, lock, now), { acquired: false, heldBy: other });
  t.is(host.sent.length, 1);
});

test('an unreadable lock counts as held by someone unknown, never as expired', async (t) => {
  for (const stdout of ['', 'garbage', '{"holder":{}}', 'null']) {
    const host = fakeHost({ code: 3, stdout });
    t.deepEqual(await acquireLock(host.exec, dir, lock, now), { acquired: false, heldBy: undefined }, stdout);
    t.is(host.sent.length, 1);
  }
});

test('an expired lock is taken over by a second command that names the exact record it found expired', async (t) => {
  const record = `${JSON.stringify(expired)}\n`;
  const host = fakeHost({ code: 3, stdout: record }, { code: 0 });
  t.deepEqual(await acquireLock(host.exec, dir, lock, now), { acquired: true, tookOver: expired });
  t.is(host.sent.length, 2);
  const [, , , , , staging, tomb, sawExpired] = host.sent[1].argv;
  t.is(staging, '.pipeline/locks/.staging-mine');
  t.regex(tomb, /^\.pipeline\/locks\/\.expired-[0-9a-f]{32}$/, 'named after the record: no path from the host in it');
  t.is(sawExpired, record);
  t.is(host.sent[1].stdin, recordOf(lock));
});

test('another deploy that took over the expired lock first is named as the holder', async (t) => {
  const winner = { ...other, id: 'winner', holder: { user: 'bob', machine: 'ci-3' }, expiresAt: '2030-01-01T12:20:00.000Z' };
  const host = fakeHost({ code: 3, stdout: JSON.stringify(expired) }, { code: 3, stdout: JSON.stringify(winner) });
  t.deepEqual(await acquireLock(host.exec, dir, lock, now), { acquired: false, heldBy: winner });
});

test('a lock expiring exactly now is expired', async (t) => {
  const host = fakeHost({ code: 3, stdout: JSON.stringify({ ...other, expiresAt: now.toISOString() }) }, { code: 0 });
  t.true((await acquireLock(host.exec, dir, lock, now)).acquired);
});

test('a host that cannot write the lock fails with its message', async (t) => {
  const host = fakeHost({ code: 2, stderr: 'mkdir: cannot create directory: Permission denied\n' });
  const error = await t.throwsAsync(acquireLock(host.exec, dir, lock, now));
  t.is(error.message, 'taking the lock failed on the host (exit 2): mkdir: cannot create directory: Permission denied');
});

test("release is one command, conditional on the record starting with this lock's id", async (t) => {
  const host = fakeHost({ code: 0 }, { code: 3 });
  t.true(await removeLock(host.exec, dir, lock));
  t.false(await removeLock(host.exec, dir, lock), 'not ours (any more)');
  t.deepEqual(
    host.sent.map((s) => s.argv.slice(3)),
    [
      ['sh', dir, recordStart(lock)],
      ['sh', dir, recordStart(lock)],
    ],
  );
});

test('a forced release removes whatever lock is there', async (t) => {
  const host = fakeHost({ code: 0 });
  t.true(await removeLock(host.exec, dir, 'force'));
  t.deepEqual(host.sent[0].argv, ['rm', '-rf', dir]);
});

test('renew writes the record with the new expiry if the lock is still ours, in one command', async (t) => {
  const mine = { ...lock };
  const host = fakeHost({ code: 0 }, { code: 3 });
  t.true(await renewLock(host.exec, dir, mine, now, 600_000));
  t.is(mine.expiresAt, '2030-01-01T12:10:00.000Z');
  t.deepEqual(host.sent[0].argv.slice(3), ['sh', dir, recordStart(lock)]);
  t.is(host.sent[0].stdin, recordOf({ ...lock, expiresAt: '2030-01-01T12:10:00.000Z' }));
  t.false(await renewLock(host.exec, dir, mine, new Date('2030-01-01T12:05:00.000Z'), 600_000));
  t.is(mine.expiresAt, '2030-01-01T12:10:00.000Z', 'a lock that is not ours is not extended');
});

test('a record begins with its id, whatever the order of the fields given', (t) => {
  const shuffled = { holder: lock.holder, expiresAt: lock.expiresAt, id: 'a"b\\c', environment: 'qa', acquiredAt: lock.acquiredAt };
  t.true(recordOf(shuffled).startsWith(recordStart(shuffled)));
  t.is(recordStart(shuffled), '{"id":"a\\"b\\\\c",');
  t.deepEqual(parseLock(recordOf(shuffled)), shuffled);
  t.false(recordOf({ ...lock, id: 'mine2' }).startsWith(recordStart(lock)), 'an id that only begins like ours is not ours');
});
