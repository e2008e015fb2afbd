// Reading SSH config files (src/adapters/ssh/config-file.ts): Include in place, globs, relative to ~/.ssh.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { readSshConfig } from '../../dist/adapters/ssh/config-file.js';
import { lookupHost } from '../../dist/core/ssh-config.js';

let home;

test.before(async () => {
  home = await mkdtemp(join(tmpdir(), 'ssh-config-file-'));
  await mkdir(join(home, '.ssh/conf.d'), { recursive: true });
  await writeFile(join(home, '.ssh/config'), 'Include conf.d/*.conf ~/team_config missing.conf\nHost *\n  User everyone\n');
  // Sorted as glob(3) sorts: 10-app before 20-db; the first value found wins.
  await writeFile(join(home, '.ssh/conf.d/20-db.conf'), 'Host app\n  HostName late\nHost db\n  HostName 10.0.0.9\n');
  await writeFile(join(home, '.ssh/conf.d/10-app.conf'), 'Host app\n  HostName 10.0.0.7\n  Include ~/nested\n');
  await writeFile(join(home, '.ssh/conf.d/notes.txt'), 'Host app\n  HostName not-a-conf\n');
  await writeFile(join(home, 'nested'), 'Port 2200\n');
  await writeFile(join(home, 'team_config'), 'Host db\n  User dba\n');
});

test.after.always(() => rm(home, { recursive: true, force: true }));

const lookup = (file, name) => lookupHost(file, { name, defaultUser: 'deploy', localUser: 'me' });

test('Include reads globs in ~/.ssh in order, ~ paths, nested Includes; a missing file names nothing', async (t) => {
  const file = await readSshConfig(join(home, '.ssh/config'), home, true);
  t.deepEqual(lookup(file, 'app'), { identityFiles: [], hostName: '10.0.0.7', port: '2200', user: 'everyone' });
  t.deepEqual(lookup(file, 'db'), { identityFiles: [], hostName: '10.0.0.9', user: 'dba' });
});

test('a missing ~/.ssh/config is no config; a missing ssh.config file is an error naming it', async (t) => {
  t.is(await readSshConfig(join(home, 'none'), home, false), undefined);
  const error = await t.throwsAsync(readSshConfig(join(home, 'none'), home, true));
  t.is(error.name, 'ConfigError');
  t.is(error.message, `cannot read SSH config ${join(home, 'none')}: ENOENT`);
});

test("an Include that includes itself stops at ssh's depth limit with one line", async (t) => {
  await writeFile(join(home, 'loop'), 'Include ~/loop\n');
  const error = await t.throwsAsync(readSshConfig(join(home, 'loop'), home, true));
  t.is(error.name, 'ConfigError');
  t.regex(error.message, /^SSH config .*loop: Include nested more than 16 deep$/);
});
