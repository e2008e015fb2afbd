// src/deploy/lock.ts on a real host: one command per step, and one winner when deploys race.
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { connectHost } from '../../dist/adapters/ssh/index.js';
import { acquireLock, lockDir, newLock, readLock, removeLock, renewLock } from '../../dist/deploy/lock.js';
import { readWorldEnv, testHostNumbers } from '../helpers/world-env.js';

const RACERS = 6;
const PWNED = '/tmp/pwned-lock-test';
const project = `lock-test-${process.pid}`;
let world;
let home;
/** One connection per deploy racing for the lock, as separate runners would have. */
let connections = [];

test.before(async () => {
  const { hosts, sshUser, sshKey, knownHosts } = await readWorldEnv();
  const [number] = testHostNumbers([1]);
  home = `/var/lib/pipeline-world/h${number}/home`;
  world = { target: { host: hosts[number - 1], port: 22, user: sshUser }, options: { identityFile: sshKey, knownHosts } };
  connections = await Promise.all(Array.from({ length: RACERS }, () => connectHost(world.target, world.options)));
});

test.after.always(async () => {
  await Promise.all(connections.map((connection) => connection.close()));
  // The lock folders of this file, and the folders expired locks were renamed to.
  const locks = join(home, '.pipeline/locks');
  for (const name of await readdir(locks).catch(() => [])) {
    const record = await readFile(join(locks, name, 'lock.json'), 'utf8').catch(() => '');
    if (name.startsWith(`${project}-`) || record.includes(`"${project}-`)) await rm(join(locks, name), { recursive: true, force: true });
  }
});

/** exec of connection i, counting the commands it runs. */
function counted(i = 0) {
  const exec = (argv, options) => {
    exec.commands++;
    return connections[i].exec(argv, options);
  };
  exec.commands = 0;
  return exec;
}

const deploy = (user, ttlMs = 600_000, environment = `${project}-env`) =>
  newLock({ environment, holder: { user, machine: 'runner' }, tag: 'develop' }, new Date(), ttlMs);
const onHost = async (dir) => JSON.parse(await readFile(join(home, dir, 'lock.json'), 'utf8'));

test('a free lock is taken in one command, a held lock names its holder in one command, release is one command', async (t) => {
  const dir = lockDir(project, 'one');
  const first = deploy('alice');
  const exec = counted();
  t.deepEqual(await acquireLock(exec, dir, first, new Date()), { acquired: true });
  t.is(exec.commands, 1);
  t.deepEqual(await onHost(dir), first);

  const other = counted(1);
  t.deepEqual(await acquireLock(other, dir, deploy('bob'), new Date()), { acquired: false, heldBy: first });
  t.is(other.commands, 1);

  exec.commands = 0;
  t.true(await removeLock(exec, dir, first));
  t.is(exec.commands, 1);
  t.false(existsSync(join(home, dir)));
  t.deepEqual(
    (await readdir(join(home, '.pipeline/locks'))).filter((name) => name.includes(first.id)),
    [],
    'no staging folder left',
  );
});

test("renew and release act only on this deploy's lock", async (t) => {
  const dir = lockDir(project, 'renew');
  const mine = deploy('alice');
  const theirs = deploy('bob');
  t.true((await acquireLock(counted(), dir, mine, new Date())).acquired);
  t.false(await renewLock(counted(1), dir, theirs, new Date(), 600_000));
  t.false(await removeLock(counted(1), dir, theirs));
  t.deepEqual(await onHost(dir), mine, 'untouched by the other deploy');

  const later = new Date(Date.now() + 60_000);
  const exec = counted();
  t.true(await renewLock(exec, dir, mine, later, 600_000));
  t.is(exec.commands, 1);
  t.is(mine.expiresAt, new Date(later.getTime() + 600_000).toISOString());
  t.deepEqual(await onHost(dir), mine);
  t.deepEqual(await readLock(counted(1), dir), mine);
  t.true(await removeLock(counted(), dir, mine));
  t.false(existsSync(join(home, dir)));
});

test('of six deploys racing for a free lock, one gets it and the others name it as the holder', async (t) => {
  for (let round = 0; round < 3; round++) {
    const dir = lockDir(project, `race-${round}`);
    const locks = connections.map((_, i) => deploy(`runner-${i}`));
    const results = await Promise.all(locks.map((lock, i) => acquireLock(counted(i), dir, lock, new Date())));
    const winners = locks.filter((_, i) => results[i].acquired);
    t.is(winners.length, 1, `round ${round}: one winner`);
    t.deepEqual(await onHost(dir), winners[0]);
    for (const result of results.filter((r) => !r.acquired)) t.deepEqual(result.heldBy, winners[0]);
  }
});

test('of six deploys taking over the same expired lock, one gets it and the others name it as the holder', async (t) => {
  for (let round = 0; round < 4; round++) {
    const dir = lockDir(project, `takeover-${round}`);
    const dead = deploy('dead-runner', -1_000);
    t.true((await acquireLock(counted(), dir, dead, new Date())).acquired);
    const locks = connections.map((_, i) => deploy(`runner-${i}`));
    const results = await Promise.all(locks.map((lock, i) => acquireLock(counted(i), dir, lock, new Date())));
    const winners = locks.filter((_, i) => results[i].acquired);
    t.is(winners.length, 1, `round ${round}: one winner`);
    t.deepEqual(results.find((r) => r.acquired).tookOver, dead);
    t.deepEqual(await onHost(dir), winners[0], "the lock on the host is the winner's");
    for (const result of results.filter((r) => !r.acquired)) t.deepEqual(result.heldBy, winners[0]);
  }
});

test('a lock record with shell metacharacters is data: stored, taken over and released as is, running nothing', async (t) => {
  await rm(PWNED, { force: true });
  const dir = lockDir(project, 'quotes');
  const nasty = `$(touch ${PWNED})'"\`touch ${PWNED}\`;x\n`;
  const dead = { ...deploy(nasty, -1_000), tag: nasty, commit: '*' };
  dead.holder.ciUrl = `https://ci/${nasty}`;
  t.true((await acquireLock(counted(), dir, dead, new Date())).acquired);
  t.deepEqual(await onHost(dir), dead);
  const next = deploy(nasty);
  t.deepEqual(await acquireLock(counted(1), dir, next, new Date()), { acquired: true, tookOver: dead });
  t.deepEqual(await onHost(dir), next);
  t.true(await removeLock(counted(1), dir, next));
  t.false(existsSync(PWNED), 'nothing in the record ran');
});
