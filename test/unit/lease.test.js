// The lock as a lease: when it is renewed, how a deploy waits for a held lock, and the lock's config and option.
import test from 'ava';
import { lockWaitArg } from '../../dist/cli/commands.js';
import { validateConfig } from '../../dist/config/schema.js';
import {
  AFTER_EXPIRY_MS,
  CI_LOCK_WAIT_MS,
  describeWait,
  lockWaitMs,
  nextLockAttempt,
  nextRenewal,
  parseLockWait,
  renewalOverdue,
} from '../../dist/core/lease.js';
import { EnvironmentLock, LockHeldError } from '../../dist/deploy/environment-lock.js';
import { takeLock } from '../../dist/deploy/lock-wait.js';
import { documentedConfig } from '../fixtures/configs.js';

test('lockTtl is a lease of 45 s by default, and at least 10 s', (t) => {
  t.is(validateConfig(documentedConfig()).lockTtl, 45_000);
  t.is(validateConfig({ ...documentedConfig(), lockTtl: '1m' }).lockTtl, 60_000);
  t.is(validateConfig({ ...documentedConfig(), lockTtl: '10s' }).lockTtl, 10_000);
  const error = t.throws(() => validateConfig({ ...documentedConfig(), lockTtl: '5s' }));
  t.regex(error.message, /lockTtl: must be at least 10s: the deploy renews it every third of it/);
});

for (const [text, expected] of [
  ['0', 0],
  ['90s', 90_000],
  ['10m', 600_000],
  ['1.5m', 90_000],
  [' 2m ', 120_000],
  ['500ms', 500],
  ['ten', undefined],
  ['10', undefined],
  ['-1m', undefined],
  ['', undefined],
]) {
  test(`parseLockWait(${JSON.stringify(text)}) is ${expected}`, (t) => {
    t.is(parseLockWait(text), expected);
  });
}

test('--lock-wait: a bad value is a usage error naming it; none given is left to the deploy', (t) => {
  t.is(lockWaitArg({}), undefined);
  t.is(lockWaitArg({ lockWait: '0' }), 0);
  t.is(lockWaitArg({ lockWait: '3m' }), 180_000);
  const error = t.throws(() => lockWaitArg({ lockWait: 'forever' }));
  t.is(error.name, 'ConfigError');
  t.is(error.message, '--lock-wait forever: must be a duration such as "90s" or "10m", or 0 to fail at once');
});

const waits = [
  ['in CircleCI without --lock-wait: 10 minutes', undefined, { provider: 'circleci' }, CI_LOCK_WAIT_MS],
  ['in GitHub Actions without --lock-wait: 10 minutes', undefined, { provider: 'github-actions' }, CI_LOCK_WAIT_MS],
  ['in any other CI without --lock-wait: 10 minutes', undefined, { provider: 'generic' }, CI_LOCK_WAIT_MS],
  ['on a terminal without --lock-wait: fail at once', undefined, {}, 0],
  ['--lock-wait 0 in CI: fail at once', 0, { provider: 'circleci' }, 0],
  ['--lock-wait 2m on a terminal', 120_000, {}, 120_000],
];
for (const [name, given, ci, expected] of waits) {
  test(`lockWaitMs: ${name}`, (t) => {
    t.is(lockWaitMs(given, ci), expected);
  });
}

const attempts = [
  // [name, waitMs, refusal, random, expected]
  ['no wait: give up at the first refusal', 0, { attempt: 1, waitedMs: 0 }, 0.5, undefined],
  ['first retry after a second', 600_000, { attempt: 1, waitedMs: 0 }, 0.5, 1_000],
  ['then twice as late', 600_000, { attempt: 2, waitedMs: 1_000 }, 0.5, 2_000],
  ['and again', 600_000, { attempt: 3, waitedMs: 3_000 }, 0.5, 4_000],
  ['at most 10 s apart', 600_000, { attempt: 9, waitedMs: 60_000 }, 0.5, 10_000],
  ['spread by chance: early', 600_000, { attempt: 4, waitedMs: 7_000 }, 0, 6_000],
  ['spread by chance: late', 600_000, { attempt: 4, waitedMs: 7_000 }, 1, 10_000],
  [
    'a lease expiring sooner: just after it expires',
    600_000,
    { attempt: 9, waitedMs: 60_000, expiresInMs: 3_000 },
    0.5,
    3_000 + AFTER_EXPIRY_MS,
  ],
  ['a lease already expired (clocks apart): soon', 600_000, { attempt: 9, waitedMs: 60_000, expiresInMs: -2_000 }, 0.5, AFTER_EXPIRY_MS],
  ['a lease expiring later: the backoff', 600_000, { attempt: 1, waitedMs: 0, expiresInMs: 40_000 }, 0.5, 1_000],
  ['close to the deadline: one last try at it', 600_000, { attempt: 9, waitedMs: 596_000 }, 0.5, 4_000],
  ['deadline reached: give up', 600_000, { attempt: 60, waitedMs: 600_000 }, 0.5, undefined],
  ['past the deadline: give up', 600_000, { attempt: 60, waitedMs: 601_000, expiresInMs: 1 }, 0.5, undefined],
];
for (const [name, waitMs, refusal, random, expected] of attempts) {
  test(`nextLockAttempt: ${name}`, (t) => {
    t.is(nextLockAttempt(waitMs, refusal, random), expected);
  });
}

const TTL = 45_000;
const renewals = [
  // [name, expiresInMs (from now), lastFailed, expected]
  ['just written: renew a third of the TTL later', TTL, false, 15_000],
  ['5 s after it was written: 10 s later', TTL - 5_000, false, 10_000],
  ['late (the event loop was busy): at once', 20_000, false, 0],
  ['a renewal failed: again in a ninth of the TTL', 25_000, true, 5_000],
  ['a renewal failed with 2 s left: within half of them', 2_000, true, 1_000],
  ['expired: lost', 0, false, 'lost'],
  ['expired after failures: lost', -1, true, 'lost'],
];
for (const [name, expiresInMs, lastFailed, expected] of renewals) {
  test(`nextRenewal: ${name}`, (t) => {
    const now = 1_000_000;
    t.is(nextRenewal(TTL, now + expiresInMs, now, lastFailed), expected);
  });
}

test('nextRenewal: a short TTL is retried at least a second apart, never past its expiry', (t) => {
  t.is(nextRenewal(3_000, 10_000 + 2_500, 10_000, true), 1_000);
  t.is(nextRenewal(3_000, 10_000 + 500, 10_000, true), 250);
});

const overdue = [
  // [name, seconds since the record was written, expected]
  ['just renewed', 0, false],
  ['due for renewal (a third of the TTL)', 15, false],
  ['a renewal a little late', 19, false],
  ['no renewal for a third of the TTL and 5 s more', 21, true],
  ['expired', 46, true],
];
for (const [name, since, expected] of overdue) {
  test(`renewalOverdue: ${name}`, (t) => {
    const writtenAt = 1_000_000;
    t.is(renewalOverdue(writtenAt + TTL, TTL, writtenAt + since * 1000), expected);
  });
}

test("renewalOverdue: a holder with a longer lease than this config's is not judged early", (t) => {
  const writtenAt = 1_000_000;
  t.false(renewalOverdue(writtenAt + 15 * 60_000, TTL, writtenAt + 60_000));
});

for (const [ms, text] of [
  [0, '0s'],
  [45_000, '45s'],
  [600_000, '10m'],
  [90_000, '1m30s'],
  [59_600, '1m'],
]) {
  test(`describeWait(${ms}) is ${text}`, (t) => {
    t.is(describeWait(ms), text);
  });
}

const holder = (id, user, expiresInMs, now) => ({
  id,
  environment: 'qa',
  holder: { user, machine: 'ci-7', ciUrl: `https://ci.example.com/${id}` },
  tag: 'develop',
  acquiredAt: new Date(now).toISOString(),
  expiresAt: new Date(now + expiresInMs).toISOString(),
});

/** A target whose lock is refused by each of `holders` in turn (undefined: taken), on a clock the waits advance. */
function queue(...holders) {
  const clock = { now: 1_000_000 };
  const slept = [];
  const target = {
    attempts: 0,
    async lock() {
      target.attempts += 1;
      const next = holders.shift();
      if (next === undefined) return { tookOver: [] };
      throw new LockHeldError('qa', 'deploy@web-1', typeof next === 'function' ? next(clock.now) : next);
    },
  };
  const options = (waitMs, lines) => ({
    waitMs,
    signal: new AbortController().signal,
    say: (line) => lines.push(line),
    sleep: async (ms) => {
      slept.push(ms);
      clock.now += ms;
    },
    now: () => clock.now,
    random: () => 0.5,
  });
  return { target, options, slept };
}

test('takeLock queues behind a running deploy: one line naming it, one when it proceeds', async (t) => {
  const alice = (now) => holder('a', 'alice', 40_000, now);
  const { target, options, slept } = queue(alice, alice, alice);
  const lines = [];
  t.deepEqual(await takeLock(target, {}, options(600_000, lines)), { tookOver: [] });
  t.is(target.attempts, 4);
  t.deepEqual(slept, [1_000, 2_000, 4_000]);
  t.is(lines.length, 2);
  t.regex(
    lines[0],
    /^waiting up to 10m for the lock: qa is locked by alice on ci-7 \(https:\/\/ci\.example\.com\/a\) since .*, deploying develop, expires .* \(on deploy@web-1\)$/,
  );
  t.is(lines[1], 'the lock is free after waiting 7s: proceeding');
});

test('takeLock names each new holder once: another deploy got the lock first', async (t) => {
  const { target, options } = queue(
    (now) => holder('a', 'alice', 40_000, now),
    (now) => holder('b', 'bob', 40_000, now),
    (now) => holder('b', 'bob', 40_000, now),
  );
  const lines = [];
  await takeLock(target, {}, options(600_000, lines));
  t.deepEqual(
    lines.map((line) => line.match(/locked by (\w+)/)?.[1] ?? line.split(':')[0]),
    ['alice', 'bob', 'the lock is free after waiting 7s'],
  );
});

test('takeLock without waiting fails at once, saying how to queue instead', async (t) => {
  const { target, options } = queue((now) => holder('a', 'alice', 40_000, now));
  const lines = [];
  const error = await t.throwsAsync(takeLock(target, {}, options(0, lines)));
  t.is(target.attempts, 1);
  t.deepEqual(lines, []);
  t.regex(
    error.message,
    /^qa is locked by alice on ci-7 \(https:\/\/ci\.example\.com\/a\) .* \(on deploy@web-1\); if that deploy is dead, run: pipeline lock release qa; to queue behind it instead: --lock-wait 10m$/,
  );
});

test('takeLock gives up at the deadline, saying how long it waited', async (t) => {
  const { target, options } = queue(...Array.from({ length: 20 }, () => (now) => holder('a', 'alice', 600_000, now)));
  const error = await t.throwsAsync(takeLock(target, {}, options(30_000, [])));
  t.regex(
    error.message,
    /^qa is still locked after waiting 30s, by alice on ci-7 .* \(on deploy@web-1\); if that deploy is dead, run: pipeline lock release qa$/,
  );
  t.true(target.attempts > 2);
});

test('takeLock stops waiting on a signal', async (t) => {
  const controller = new AbortController();
  const target = {
    lock: async () => {
      throw new LockHeldError('qa', 'h', undefined);
    },
  };
  const waiting = takeLock(target, {}, { waitMs: 600_000, signal: controller.signal, say: () => controller.abort() });
  const error = await t.throwsAsync(waiting);
  t.is(error.message, 'stopped by a signal');
});

test('takeLock lets other failures through at once', async (t) => {
  const target = {
    attempts: 0,
    lock: async () => {
      target.attempts += 1;
      throw new Error('connection lost');
    },
  };
  await t.throwsAsync(takeLock(target, {}, { waitMs: 600_000, signal: new AbortController().signal, say: () => {} }), {
    message: 'connection lost',
  });
  t.is(target.attempts, 1);
});

/** The lease's timers do not keep a process alive (a deploy's connections do): a test waiting on them has to. */
async function keepingAlive(promise) {
  const alive = setInterval(() => {}, 1_000);
  try {
    return await promise;
  } finally {
    clearInterval(alive);
  }
}

/** A member whose lock commands answer from `renewals` (after the lock is taken), recording what happens. */
function member(id, renewals, events) {
  return {
    id,
    exec: async (argv) => {
      if (!argv[2].includes('lock.json.new')) return { code: 0, stdout: '', stderr: '' }; // taking and giving back the lock
      const next = renewals.shift() ?? { code: 0 };
      events.push(`${id}: renew ${next.code ?? 'throws'}`);
      if (next.throws) throw new Error(next.throws);
      return { stdout: '', stderr: '', ...next };
    },
  };
}

test('the lease is renewed on each member; a renewal that fails is reported and tried again; a lock taken over is lost', async (t) => {
  const events = [];
  const lock = new EnvironmentLock('shop', 'qa', 1_500);
  let lost;
  const done = new Promise((resolve) => {
    lost = resolve;
  });
  await lock.lock(
    [member('h1', [{ code: 0 }, { throws: 'timed out after 20s running sh' }, { code: 3 }], events)],
    { holder: { user: 'me', machine: 'm' } },
    {
      renewFailed: (id, error) => events.push(`${id}: renewal failed: ${error.message}`),
      lost: (id, reason) => {
        events.push(`${id}: lost: ${reason}`);
        lost();
      },
    },
  );
  await keepingAlive(done);
  await lock.unlock();
  t.deepEqual(events, [
    'h1: renew 0',
    'h1: renew throws',
    'h1: renewal failed: timed out after 20s running sh',
    'h1: renew 3',
    'h1: lost: another deploy has taken it over',
  ]);
});

test('a lease whose renewals keep failing is lost once it has expired', async (t) => {
  const events = [];
  const lock = new EnvironmentLock('shop', 'qa', 1_200);
  const done = new Promise((resolve) => {
    void lock.lock(
      [
        member(
          'h1',
          Array.from({ length: 1_000 }, () => ({ throws: 'connection lost' })),
          events,
        ),
      ],
      { holder: { user: 'me', machine: 'm' } },
      {
        renewFailed: () => {},
        lost: (_id, reason) => {
          events.push(`lost: ${reason}`);
          resolve();
        },
      },
    );
  });
  await keepingAlive(done);
  await lock.unlock();
  t.is(events.at(-1), 'lost: it expired before a renewal got through');
  t.true(events.filter((e) => e === 'h1: renew throws').length >= 1);
});

test('a lease is no longer renewed once unlocked', async (t) => {
  const events = [];
  const lock = new EnvironmentLock('shop', 'qa', 900);
  await lock.lock([member('h1', [], events)], { holder: { user: 'me', machine: 'm' } }, { lost: () => events.push('lost') });
  await lock.unlock();
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  t.deepEqual(events, []);
});
