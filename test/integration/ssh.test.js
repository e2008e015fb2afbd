// src/adapters/ssh/ against a real sshd host of the test world (scripts/world.sh).

import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import test from 'ava';
import Docker from 'dockerode';
import ssh2 from 'ssh2';
import tar from 'tar-stream';
import { connectHost } from '../../dist/adapters/ssh/index.js';
import { DOCKER_ENDPOINT_PROBE } from '../../dist/core/docker-endpoint.js';
import { shellCommand } from '../../dist/core/shell-quote.js';
import { testHostNumbers } from '../helpers/world-env.js';

const ENV_FILE = '/var/lib/pipeline-world/world.env';
const SSH_MODULE = pathToFileURL(resolve(import.meta.dirname, '../../dist/adapters/ssh/index.js')).href;
const STATE = '/var/lib/pipeline-world';
const PWNED = '/tmp/pwned-ssh-test';
const BUSYBOX = '/bin/busybox';
const DIAL_STDIO = 'docker system dial-stdio';
const PROBE = shellCommand(DOCKER_ENDPOINT_PROBE);

/** KEY=VALUE lines of the world's env file; a missing world fails the tests, never skips them. */
function loadWorldEnv() {
  let text;
  try {
    text = readFileSync(ENV_FILE, 'utf8');
  } catch {
    throw new Error(`the test world is not up (${ENV_FILE} missing): run \`bash scripts/world.sh up\` as root`);
  }
  const pairs = text
    .split('\n')
    .map((line) => /^([A-Z_0-9]+)=(.*)$/.exec(line.trim()))
    .filter(Boolean);
  return Object.fromEntries(pairs.map(([, key, value]) => [key, value.replace(/^"(.*)"$/, '$1')]));
}

let world;
let scratch;

test.before(() => {
  const env = loadWorldEnv();
  const [number] = testHostNumbers([1]);
  world = {
    number,
    target: { host: env.PIPELINE_WORLD_HOSTS.split(/\s+/)[number - 1], port: 22, user: env.PIPELINE_WORLD_SSH_USER },
    options: { identityFile: env.PIPELINE_WORLD_SSH_KEY, knownHosts: env.PIPELINE_WORLD_KNOWN_HOSTS },
    socket: env.PIPELINE_WORLD_HOST_SOCKETS.split(/\s+/)[number - 1],
  };
  /** The host's engine, straight to its socket (for assertions only). */
  world.engine = new Docker({ socketPath: world.socket });
  scratch = mkdtempSync(join(tmpdir(), 'ssh-test-'));
});

test.after.always(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/**
 * Counts SSH connections and channels made by this process while `run` runs: exec channels
 * (`commands` run, `channels` opened), channels to Unix sockets on the host (`streamLocal`
 * opened, `refused`), and how many of both were open at most at once.
 */
async function countSsh(run) {
  const counts = {
    connects: 0,
    readies: 0,
    channels: 0,
    streamLocal: 0,
    refused: 0,
    open: 0,
    maxOpen: 0,
    commands: new Set(),
    sockets: new Set(),
  };
  const { connect, exec, openssh_forwardOutStreamLocal: forwardOutStreamLocal } = ssh2.Client.prototype;
  const opened = (error, channel, kind) => {
    if (error) return;
    counts[kind]++;
    counts.maxOpen = Math.max(counts.maxOpen, ++counts.open);
    channel.once('close', () => counts.open--);
  };
  ssh2.Client.prototype.connect = function (...args) {
    counts.connects++;
    this.once('ready', () => counts.readies++);
    return connect.apply(this, args);
  };
  ssh2.Client.prototype.exec = function (command, ...rest) {
    const callback = rest.pop();
    counts.commands.add(command);
    return exec.call(this, command, ...rest, (error, channel) => {
      opened(error, channel, 'channels');
      callback(error, channel);
    });
  };
  ssh2.Client.prototype.openssh_forwardOutStreamLocal = function (socketPath, callback) {
    counts.sockets.add(socketPath);
    return forwardOutStreamLocal.call(this, socketPath, (error, channel) => {
      if (error) counts.refused++;
      opened(error, channel, 'streamLocal');
      callback(error, channel);
    });
  };
  try {
    await run();
  } finally {
    Object.assign(ssh2.Client.prototype, { connect, exec, openssh_forwardOutStreamLocal: forwardOutStreamLocal });
  }
  return counts;
}

/** The engine a connection reaches, told apart by its data folder (the world's engines share their ID). */
async function engineRoot(docker) {
  return (await docker.info()).DockerRootDir;
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
  t.true(counts.streamLocal >= 1 && counts.streamLocal <= 8, `keep-alive reuses channels (opened ${counts.streamLocal})`);
  t.deepEqual([...counts.commands], [PROBE], 'one command: the probe of docker settings, and no docker process on the host');
  t.is(counts.channels, 1);
  t.is(counts.open, 0, 'close() closed every channel');
});

test.serial(
  "the Docker API goes straight to the socket of the engine the host's docker CLI uses (DOCKER_HOST of the SSH session)",
  async (t) => {
    const counts = await countSsh(async () => {
      const host = await connectHost(world.target, world.options);
      try {
        t.is(await engineRoot(host.docker), await engineRoot(world.engine));
      } finally {
        await host.close();
      }
    });
    t.deepEqual([...counts.sockets], [world.socket]);
    t.is(counts.refused, 0);
    t.not(
      await engineRoot(world.engine),
      await engineRoot(new Docker({ socketPath: '/var/run/docker.sock' })),
      "not the default socket: the runner's engine on this machine",
    );
  },
);

/**
 * A second sshd in the host's network namespace, set up as the host's own (host key, home) but
 * without its SetEnv, listening on two ports: `settings` gives each port's sshd_config lines.
 * Resolves with a known_hosts file for it and a function that stops it.
 */
async function extraSshd(settings) {
  const { number, target } = world;
  const lines = readFileSync(`${STATE}/h${number}/sshd_config`, 'utf8')
    .split('\n')
    .filter((line) => !/^(ListenAddress|PidFile|SetEnv)\s/.test(line));
  const ports = Object.keys(settings);
  lines.push(...ports.map((port) => `ListenAddress ${target.host}:${port}`), 'PidFile none');
  for (const [port, extra] of Object.entries(settings)) lines.push(`Match LocalPort ${port}`, ...extra.map((line) => `  ${line}`));
  const config = writeScratch('sshd_config.extra', `${lines.join('\n')}\n`);
  const hostKey = readFileSync(`${STATE}/h${number}/ssh_host_ed25519_key.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  const knownHosts = writeScratch('known_hosts.extra', ports.map((port) => `[${target.host}]:${port} ${hostKey}\n`).join(''));
  const sshd = spawn(
    'nsenter',
    [
      `--net=/run/netns/plw-h${number}`,
      'unshare',
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --bind "$1" /home/deploy && shift && exec "$@"',
      'sh',
      `${STATE}/h${number}/home`,
      '/usr/sbin/sshd',
      '-D',
      '-e',
      '-f',
      config,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  const exited = new Promise((done) => sshd.once('exit', done));
  await new Promise((listening, failed) => {
    const timer = setTimeout(() => failed(new Error(`sshd did not start: ${log}`)), 10_000);
    sshd.stderr.on('data', (chunk) => {
      log += chunk;
      if (ports.every((port) => log.includes(`port ${port}.`))) {
        clearTimeout(timer);
        listening();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      failed(new Error(`sshd exited: ${log}`));
    });
  });
  return {
    knownHosts,
    log: () => log,
    stop: async () => {
      sshd.kill('SIGTERM');
      await exited;
    },
  };
}

/** A docker config folder whose currentContext names a context for the host's engine, readable by the deploy user. */
function dockerConfigWithContext(name) {
  const folder = join(scratch, 'docker-config');
  const meta = join(folder, 'contexts/meta', createHash('sha256').update(name).digest('hex'));
  mkdirSync(meta, { recursive: true });
  writeFileSync(
    join(meta, 'meta.json'),
    JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: `unix://${world.socket}`, SkipTLSVerify: false } } }),
  );
  writeFileSync(join(folder, 'config.json'), JSON.stringify({ currentContext: name }));
  for (const path of [scratch, folder, join(folder, 'contexts'), join(folder, 'contexts/meta'), meta]) chmodSync(path, 0o755);
  chmodSync(join(meta, 'meta.json'), 0o644);
  chmodSync(join(folder, 'config.json'), 0o644);
  return folder;
}

test.serial('without streamlocal forwarding or with a docker context, the Docker API goes over docker system dial-stdio', async (t) => {
  const [refusing, withContext] = [20_000 + (process.pid % 20_000), 20_001 + (process.pid % 20_000)];
  const sshd = await extraSshd({
    [refusing]: [`SetEnv DOCKER_HOST=unix://${world.socket}`, 'AllowStreamLocalForwarding no'],
    [withContext]: [`SetEnv DOCKER_CONFIG=${dockerConfigWithContext('ssh-test-engine')}`],
  });
  t.teardown(() => sshd.stop());
  const expectedRoot = await engineRoot(world.engine);
  const viaPort = async (port) =>
    countSsh(async () => {
      const host = await connectHost({ ...world.target, port }, { ...world.options, knownHosts: sshd.knownHosts });
      try {
        t.is(await engineRoot(host.docker), expectedRoot, `port ${port}: the host's engine`);
        const lists = await Promise.all(Array.from({ length: 30 }, () => host.docker.listContainers({ all: true })));
        t.true(lists.every(Array.isArray));
      } finally {
        await host.close();
      }
    });

  const refused = await viaPort(refusing);
  t.is(refused.refused, 1, 'sshd refused the one channel to the socket; the connection did not ask again');
  t.is(refused.streamLocal, 0);
  t.deepEqual([...refused.commands].sort(), [DIAL_STDIO, PROBE].sort());
  t.true(
    refused.channels - 1 <= 8 && refused.maxOpen <= 8,
    `at most 8 dial-stdio channels (opened ${refused.channels - 1}, ${refused.maxOpen} at once)`,
  );
  t.regex(sshd.log(), /refused streamlocal port forward/);

  const context = await viaPort(withContext);
  t.is(context.sockets.size, 0, 'no channel to a socket was asked for');
  t.deepEqual([...context.commands].sort(), [DIAL_STDIO, PROBE].sort());
});

test('streaming calls over SSH: an image upload with progress, logs with follow, and wait', async (t) => {
  const host = await connectHost(world.target, world.options);
  t.teardown(() => host.close());
  const { docker } = host;
  const name = `ssh-test-${process.pid}-${Date.now()}`;
  const image = `pipeline-ssh-test/busybox:${name}`;

  // A request body streamed up the channel, and a progress stream coming down it.
  const progress = await docker.importImage(busyboxRootfs(), { repo: image.split(':')[0], tag: name });
  const events = await new Promise((done, fail) =>
    docker.modem.followProgress(progress, (error, output) => (error ? fail(error) : done(output))),
  );
  t.true(
    events.some((event) => /^sha256:/.test(event.status ?? '')),
    JSON.stringify(events),
  );
  t.teardown(() =>
    docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined),
  );

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
  stdout.on('data', (chunk) => {
    out += chunk;
  });
  stderr.on('data', (chunk) => {
    err += chunk;
  });
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
  t.is(
    error.message,
    `${world.target.host}: host key not in ${knownHosts}; after checking the host's key fingerprint, add it with: ssh-keyscan ${world.target.host} >> ${knownHosts}`,
  );
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
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  let closedAt;
  child.stdout.on('data', () => {
    closedAt ??= output.includes('closed') ? Date.now() : undefined;
  });
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
