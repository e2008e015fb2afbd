// src/adapters/ssh.ts against a real sshd host of the test world (scripts/world.sh).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import ssh2 from 'ssh2';
import tar from 'tar-stream';
import { connectHost } from '../../dist/adapters/ssh.js';

const ENV_FILE = '/var/lib/pipeline-world/world.env';
const SSH_MODULE = pathToFileURL(resolve(import.meta.dirname, '../../dist/adapters/ssh.js')).href;
const PWNED = '/tmp/pwned-ssh-test';
const BUSYBOX = '/bin/busybox';

/** KEY=VALUE lines of the world's env file; a missing world fails the tests, never skips them. */
function loadWorldEnv() {
  let text;
  try {
    text = readFileSync(ENV_FILE, 'utf8');
  } catch {
    throw new Error(`the test world is not up (${ENV_FILE} missing): run \`bash scripts/world.sh up\` as root`);
  }
  const pairs = text.split('\n').map((line) => /^([A-Z_0-9]+)=(.*)$/.exec(line.trim())).filter(Boolean);
  return Object.fromEntries(pairs.map(([, key, value]) => [key, value.replace(/^"(.*)"$/, '$1')]));
}

let world;
let scratch;

test.before(() => {
  const env = loadWorldEnv();
  world = {
    target: { host: env.PIPELINE_WORLD_HOSTS.split(/\s+/)[0], port: 22, user: env.PIPELINE_WORLD_SSH_USER },
    options: { identityFile: env.PIPELINE_WORLD_SSH_KEY, knownHosts: env.PIPELINE_WORLD_KNOWN_HOSTS },
  };
  scratch = mkdtempSync(join(tmpdir(), 'ssh-test-'));
});

test.after.always(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Counts SSH connections and exec channels made by this process while `run` runs. */
async function countSsh(run) {
  const counts = { connects: 0, readies: 0, channels: 0, open: 0, maxOpen: 0, commands: new Set() };
  const { connect, exec } = ssh2.Client.prototype;
  ssh2.Client.prototype.connect = function (...args) {
    counts.connects++;
    this.once('ready', () => counts.readies++);
    return connect.apply(this, args);
  };
  ssh2.Client.prototype.exec = function (command, ...rest) {
    const callback = rest.pop();
    counts.commands.add(command);
    return exec.call(this, command, ...rest, (error, channel) => {
      if (!error) {
        counts.channels++;
        counts.maxOpen = Math.max(counts.maxOpen, ++counts.open);
        channel.once('close', () => counts.open--);
      }
      callback(error, channel);
    });
  };
  try {
    await run();
  } finally {
    Object.assign(ssh2.Client.prototype, { connect, exec });
  }
  return counts;
}

/** ssh2's key generator now and then (about 1 in 500) writes a private key its own parser rejects: take one that parses. */
function newKeyPair(options) {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', options);
    if (!(ssh2.utils.parseKey(Buffer.from(pair.private), options?.passphrase) instanceof Error)) return pair;
  }
}

function writeScratch(name, content) {
  const path = join(scratch, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

// Serial: the counting patches ssh2's prototype, so no other test may connect meanwhile.
test.serial('one SSH connection carries the Docker API: version and 30 concurrent calls, at most 8 channels at once', async (t) => {
  const counts = await countSsh(async () => {
    const host = await connectHost(world.target, world.options);
    try {
      const version = await host.docker.version();
      t.regex(version.ApiVersion, /^\d+\.\d+$/);
      const lists = await Promise.all(Array.from({ length: 30 }, () => host.docker.listContainers({ all: true })));
      t.is(lists.length, 30);
      for (const list of lists) t.true(Array.isArray(list));
    } finally {
      await host.close();
    }
  });
  t.is(counts.connects, 1, 'one SSH connection');
  t.is(counts.readies, 1);
  t.true(counts.maxOpen <= 8, `at most 8 channels open at once (saw ${counts.maxOpen})`);
  t.true(counts.channels >= 1 && counts.channels <= 8, `keep-alive reuses channels (opened ${counts.channels})`);
  t.deepEqual([...counts.commands], ['docker system dial-stdio']);
  t.is(counts.open, 0, 'close() closed every channel');
});

test('streaming calls over SSH: an image upload with progress, logs with follow, and wait', async (t) => {
  const host = await connectHost(world.target, world.options);
  t.teardown(() => host.close());
  const { docker } = host;
  const name = `ssh-test-${process.pid}-${Date.now()}`;
  const image = `pipeline-ssh-test/busybox:${name}`;

  // A request body streamed up the channel, and a progress stream coming down it.
  const progress = await docker.importImage(busyboxRootfs(), { repo: image.split(':')[0], tag: name });
  const events = await new Promise((done, fail) => docker.modem.followProgress(progress, (error, output) => (error ? fail(error) : done(output))));
  t.true(events.some((event) => /^sha256:/.test(event.status ?? '')), JSON.stringify(events));
  t.teardown(() => docker.getImage(image).remove({ force: true }).catch(() => undefined));

  const container = await docker.createContainer({
    name,
    Image: image,
    Cmd: ['sh', '-c', 'for i in 1 2 3; do echo out $i; echo err $i >&2; sleep 0.2; done; exit 3'],
    HostConfig: { NetworkMode: 'none' },
  });
  t.teardown(() => container.remove({ force: true }).catch(() => undefined));
  await container.start();
  // Started first: wait's default condition (not-running) would answer at once for a created container.
  const exited = container.wait();
  const logs = await container.logs({ follow: true, stdout: true, stderr: true });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk) => { out += chunk; });
  stderr.on('data', (chunk) => { err += chunk; });
  docker.modem.demuxStream(logs, stdout, stderr);
  await new Promise((done, fail) => logs.on('end', done).on('error', fail));
  t.is(out, 'out 1\nout 2\nout 3\n');
  t.is(err, 'err 1\nerr 2\nerr 3\n');
  t.is((await exited).StatusCode, 3);
});

/** A one-binary root filesystem as a tar stream: this machine's static busybox, which world.sh needs too. */
function busyboxRootfs() {
  const pack = tar.pack();
  pack.entry({ name: 'bin/busybox', mode: 0o755 }, readFileSync(BUSYBOX));
  for (const applet of ['sh', 'echo', 'sleep']) pack.entry({ name: `bin/${applet}`, type: 'symlink', linkname: 'busybox' });
  pack.finalize();
  return pack;
}

test('an unknown host key is refused with a precise message', async (t) => {
  const knownHosts = writeScratch('known_hosts.empty', '');
  const error = await t.throwsAsync(connectHost(world.target, { ...world.options, knownHosts }));
  t.is(error.name, 'HostError');
  t.is(error.host, world.target.host);
  t.is(error.message, `${world.target.host}: host key not in ${knownHosts}; after checking the host's key fingerprint, add it with: ssh-keyscan ${world.target.host} >> ${knownHosts}`);
});

test('a host key that differs from known_hosts is refused', async (t) => {
  const other = newKeyPair().public.split(' ').slice(0, 2).join(' ');
  const knownHosts = writeScratch('known_hosts.other', `${world.target.host} ${other}\n`);
  const error = await t.throwsAsync(connectHost(world.target, { ...world.options, knownHosts }));
  t.is(error.name, 'HostError');
  t.regex(error.message, /host key does not match .*known_hosts\.other \(possible man-in-the-middle attack\)/);
});

test('a key the host does not accept fails authentication, naming user and key', async (t) => {
  const identityFile = writeScratch('id_stranger', newKeyPair().private);
  const error = await t.throwsAsync(connectHost(world.target, { ...world.options, identityFile }));
  t.is(error.name, 'HostError');
  t.is(error.message, `${world.target.host}: authentication failed for user ${world.target.user} (key ${identityFile})`);
});

test('an encrypted key without its passphrase is a configuration error naming the file', async (t) => {
  const passphrase = 'correct horse battery';
  const identityFile = writeScratch('id_encrypted', newKeyPair({ passphrase, cipher: 'aes256-ctr' }).private);
  const missing = await t.throwsAsync(connectHost(world.target, { ...world.options, identityFile }));
  t.is(missing.name, 'ConfigError');
  t.is(missing.message, `SSH private key ${identityFile} is encrypted and no passphrase was given`);
  const wrong = await t.throwsAsync(connectHost(world.target, { ...world.options, identityFile, passphrase: 'not-it-9f3k' }));
  t.is(wrong.name, 'ConfigError');
  t.false(wrong.message.includes('not-it-9f3k'), 'no passphrase in the message');
});

test('a closed port is reported as connection refused', async (t) => {
  const error = await t.throwsAsync(connectHost({ ...world.target, port: 2 }, world.options));
  t.is(error.message, `${world.target.host}: connection refused on port 2`);
});

test('exec passes metacharacters literally and runs nothing else', async (t) => {
  rmSync(PWNED, { force: true });
  const host = await connectHost(world.target, world.options);
  t.teardown(() => host.close());
  const result = await host.exec(['echo', `$(touch ${PWNED});x`]);
  t.deepEqual(result, { code: 0, stdout: `$(touch ${PWNED});x\n`, stderr: '' });
  t.false(existsSync(PWNED), `${PWNED} was not created on the host`);
});

test('exec feeds stdin and reports exit code and stderr', async (t) => {
  const host = await connectHost(world.target, world.options);
  t.teardown(() => host.close());
  const result = await host.exec(['sh', '-c', 'cat; echo "to stderr" >&2; exit 3'], { stdin: "it's\nstdin\n" });
  t.deepEqual(result, { code: 3, stdout: "it's\nstdin\n", stderr: 'to stderr\n' });
});

test('exec timeout rejects and kills the remote command', async (t) => {
  const host = await connectHost(world.target, world.options);
  t.teardown(() => host.close());
  // An unusual duration, so the process can be found by its command line (hosts share this machine's process table).
  const error = await t.throwsAsync(host.exec(['sleep', '31.73'], { timeoutMs: 500 }));
  t.is(error.message, `${world.target.host}: timed out after 0.5s running sleep`);
  await new Promise((done) => setTimeout(done, 500));
  t.is(pgrep('sleep 31.73'), '', 'the remote sleep was killed');
});

test('a process that connects, lists containers and closes exits on its own', async (t) => {
  const script = `
    import { connectHost } from ${JSON.stringify(SSH_MODULE)};
    const host = await connectHost(${JSON.stringify(world.target)}, ${JSON.stringify(world.options)});
    const containers = await host.docker.listContainers();
    await host.exec(['true']);
    await host.close();
    console.log('closed', Array.isArray(containers));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr.on('data', (chunk) => { output += chunk; });
  let closedAt;
  child.stdout.on('data', () => { closedAt ??= output.includes('closed') ? Date.now() : undefined; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code, signal] = await new Promise((done) => child.on('exit', (...args) => done(args)));
  clearTimeout(killer);
  t.is(signal, null, `the process had to be killed: ${output}`);
  t.is(code, 0, output);
  t.is(output.trim(), 'closed true');
  t.true(Date.now() - closedAt < 2_000, 'it exits promptly after close()');
});

function pgrep(pattern) {
  try {
    return execFileSync('pgrep', ['-f', pattern]).toString().trim();
  } catch {
    return ''; // pgrep exits 1 when nothing matches
  }
}
