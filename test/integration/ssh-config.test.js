// Hosts reached as teams reach them: an SSH config file with Host aliases and a ProxyJump bastion, and a key per
// environment. World hosts (by default): h4 is the bastion, h5 accepts SSH only from h4, h3 is reached through h4 too,
// h2 authorises a second key that h1 does not.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import ssh2 from 'ssh2';
import { hostHome, loadWorld, makeRepo, NO_CI, pipeline, projectContainers, resetHosts, sshLogins, writeConfig } from '../helpers/world.js';
import { testHostNumbers } from '../helpers/world-env.js';

const run = promisify(execFile);
const PROJECT = 'sshcfg';
/** Marks the rule this file adds to the target's firewall, so that it can always be found and removed. */
const RULE_COMMENT = 'pipeline-ssh-config-test';

let world;
let repo;
let env;
/** 0-based indexes into the world's hosts. */
let hosts;
let secondKey;
let savedAuthorizedKeys;

test.before(async () => {
  world = await loadWorld();
  const [bastion, target, alsoBehind, keyed, notKeyed] = testHostNumbers([4, 5, 3, 2, 1]).map((n) => n - 1);
  hosts = { bastion, target, alsoBehind, keyed, notKeyed };
  repo = await makeRepo();
  await resetHosts(world, PROJECT);
  env = {
    ...process.env,
    ...NO_CI,
    SSH_AUTH_SOCK: '',
  };
  await repo.git('checkout', '-q', 'develop');
  secondKey = await writeSecondKey();
  savedAuthorizedKeys = await readFile(authorizedKeys(keyed), 'utf8');
  await writeFile(authorizedKeys(keyed), `${savedAuthorizedKeys.trimEnd()}\n${secondKey.public}\n`);
  await acceptSshOnlyFrom(target, bastion);
  // The release every deploy below rolls out, built and pushed by this file.
  const built = await pipeline(['--config', await config(), 'run', '--only', 'build', 'push'], { cwd: repo.work, env });
  if (built.code !== 0) throw new Error(`build and push failed:\n${built.output}`);
});

test.after.always(async () => {
  if (hosts) await dropFirewallRule(hosts.target);
  if (savedAuthorizedKeys !== undefined) await writeFile(authorizedKeys(hosts.keyed), savedAuthorizedKeys);
  if (world) await resetHosts(world, PROJECT);
  await repo?.cleanup();
});

const address = (index) => world.hosts[index];
const authorizedKeys = (index) => join(hostHome(index), '.ssh/authorized_keys');

/** A key pair authorised on one host only; ssh2 now and then writes a private key its own parser rejects: take one that parses. */
async function writeSecondKey() {
  for (;;) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'second key' });
    if (ssh2.utils.parseKey(Buffer.from(pair.private)) instanceof Error) continue;
    const path = join(repo.dir, 'id_second');
    await writeFile(path, pair.private, { mode: 0o600 });
    const blob = Buffer.from(pair.public.split(' ')[1], 'base64');
    return { path, public: pair.public, fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}` };
  }
}

/** In the target's network namespace: port 22 answers the bastion only, anyone else gets a TCP reset. */
async function acceptSshOnlyFrom(target, bastion) {
  await dropFirewallRule(target);
  await iptables(target, '-I', 'INPUT', ...firewallRule(bastion));
}

function firewallRule(bastion) {
  return [
    '-p',
    'tcp',
    '--dport',
    '22',
    '!',
    '-s',
    address(bastion),
    '-m',
    'comment',
    '--comment',
    RULE_COMMENT,
    '-j',
    'REJECT',
    '--reject-with',
    'tcp-reset',
  ];
}

async function dropFirewallRule(target) {
  const { stdout } = await iptables(target, '-S', 'INPUT');
  for (const line of stdout.split('\n').filter((rule) => rule.includes(RULE_COMMENT))) {
    await iptables(
      target,
      ...line
        .replace(/^-A /, '-D ')
        .split(' ')
        .map((word) => word.replace(/^"(.*)"$/, '$1')),
    );
  }
}

function iptables(index, ...args) {
  return run('ip', ['netns', 'exec', `plw-h${index + 1}`, 'iptables', '-w', ...args]);
}

/** An SSH config as a team keeps it: the bastion and the hosts behind it by alias. */
async function sshConfigFile() {
  const path = join(repo.dir, 'ssh_config');
  await writeFile(
    path,
    `# hosts of the ${PROJECT} test
Host bastion
  HostName ${address(hosts.bastion)}
  User ${world.sshUser}
  IdentityFile ${world.sshKey}

Host app-target
  HostName ${address(hosts.target)}
  ProxyJump bastion

Host app-other
  HostName ${address(hosts.alsoBehind)}
  ProxyJump bastion

Host closed-gateway
  HostName ${address(hosts.bastion)}
  Port 2
  IdentityFile ${world.sshKey}

Host closed-gateway-user
  HostName ${address(hosts.target)}
  ProxyJump closed-gateway

Host app-*
  User ${world.sshUser}
  IdentityFile ${world.sshKey}
`,
  );
  return path;
}

/** A small config: one web service (on a port no other file publishes), environments for each way of reaching hosts; `changes` adjusts it. */
async function config(changes = (c) => c, name = 'pipeline.config.json') {
  const web = {
    roles: ['web'],
    command: ['node', 'server.js'],
    ports: ['18481:8000'],
    healthcheck: { http: { path: '/health', port: 8000 }, interval: '500ms', retries: 20 },
    stopGracePeriod: '2s',
  };
  const ssh = { config: await sshConfigFile(), knownHosts: world.knownHosts };
  const base = {
    project: PROJECT,
    image: `${world.registry}/allume/${PROJECT}`,
    registry: { server: world.registry, username: world.username, password: world.password },
    // The world has no Docker Hub: its own node image stands in for the example's base image.
    build: { context: '.', dockerfile: 'Dockerfile', args: { BASE_IMAGE: world.nodeImage } },
    ssh,
    environments: {
      behind: { defaultTag: 'develop', hosts: { web: ['app-target', 'app-other'] }, env: { APP_ENV: 'behind' } },
      direct: {
        defaultTag: 'develop',
        hosts: { web: [`${world.sshUser}@${address(hosts.target)}`] },
        ssh: { config: false, identityFile: world.sshKey },
      },
      nowhere: { defaultTag: 'develop', hosts: { web: ['app-unknown.invalid', 'closed-gateway-user'] } },
      keyed: { defaultTag: 'develop', hosts: { web: [address(hosts.keyed)] }, ssh: { identityFile: secondKey.path } },
      'keyed-elsewhere': { defaultTag: 'develop', hosts: { web: [address(hosts.notKeyed)] }, ssh: { identityFile: secondKey.path } },
    },
    services: { web },
  };
  return writeConfig(repo, changes(base), name);
}

const deploy = async (environment, file) =>
  pipeline(['--config', file ?? (await config()), 'deploy', environment, '--docker-tag', 'develop'], { cwd: repo.work, env });
const logins = () => Promise.all([hosts.bastion, hosts.target, hosts.alsoBehind].map((index) => sshLogins(index)));
const running = async (index) =>
  Object.fromEntries(
    Object.entries(await projectContainers(world.engines[index], PROJECT)).map(([service, c]) => [
      service,
      `${c.Id.slice(0, 12)} ${c.State}`,
    ]),
  );
const escaped = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The last login world host `index` accepted: who from, with which key. */
async function lastLogin(index) {
  const lines = (await readFile(`/var/log/pipeline-world/h${index + 1}-sshd.log`, 'utf8'))
    .split(/\r?\n/)
    .filter((line) => line.includes('Accepted publickey for'));
  return lines.at(-1) ?? '';
}

test.serial('the target refuses a direct SSH connection: only the bastion gets through its firewall', async (t) => {
  const result = await deploy('direct');
  t.is(result.code, 1, result.output);
  t.regex(
    result.stderr,
    new RegExp(
      `preflight failed on 1 host\\(s\\): ${escaped(world.sshUser)}@${escaped(address(hosts.target))}: connection refused on port 22`,
    ),
  );
  t.deepEqual(await running(hosts.target), {});
});

test.serial(
  "a host reachable only through a ProxyJump bastion of an SSH config is deployed: one login on each host, the bastion's shared",
  async (t) => {
    const before = await logins();
    const result = await deploy('behind');
    t.is(result.code, 0, result.output);
    const after = await logins();
    t.deepEqual(
      after.map((count, index) => count - before[index]),
      [1, 1, 1],
      'one login on the bastion for both hosts behind it, one on each of them',
    );
    t.regex(
      await lastLogin(hosts.target),
      new RegExp(`Accepted publickey for ${world.sshUser} from ${escaped(address(hosts.bastion))} `),
      'the target was reached from the bastion',
    );
    for (const index of [hosts.target, hosts.alsoBehind]) {
      const { web } = await projectContainers(world.engines[index], PROJECT);
      t.is(web?.State, 'running', `web runs on h${index + 1}`);
      t.is(web.Labels['pipeline.tag'], 'develop');
      t.is(web.Labels['pipeline.environment'], 'behind');
    }
    t.regex(result.output, /app-target/);
    t.regex(result.output, /app-other/);
  },
);

test.serial('a wrong host key at the bastion is refused naming the bastion; nothing changes behind it', async (t) => {
  const before = await Promise.all([hosts.target, hosts.alsoBehind].map(running));
  const knownHosts = join(repo.dir, 'known_hosts.wrong-bastion');
  const other = ssh2.utils.generateKeyPairSync('ed25519').public.split(' ').slice(0, 2).join(' ');
  const lines = (await readFile(world.knownHosts, 'utf8')).split('\n').filter(Boolean);
  await writeFile(
    knownHosts,
    lines.map((line) => (line.split(' ')[0] === address(hosts.bastion) ? `${address(hosts.bastion)} ${other}` : line)).join('\n'),
  );
  const file = await config(
    (c) => ({ ...c, environments: { ...c.environments, behind: { ...c.environments.behind, ssh: { knownHosts } } } }),
    'wrong-bastion.json',
  );
  const logged = await logins();
  const result = await deploy('behind', file);
  t.is(result.code, 1, result.output);
  const refusal = `jump host bastion \\(${escaped(world.sshUser)}@${escaped(address(hosts.bastion))}\\): host key does not match ${escaped(knownHosts)} \\(possible man-in-the-middle attack\\); refusing to connect`;
  t.regex(result.stderr, new RegExp(`preflight failed on 2 host\\(s\\): app-target: ${refusal}; app-other: ${refusal}`));
  t.deepEqual(await logins(), logged, 'no login anywhere: the bastion was refused before authenticating');
  t.deepEqual(await Promise.all([hosts.target, hosts.alsoBehind].map(running)), before, 'what ran behind the bastion runs as before');
});

test.serial('an unreachable bastion and a Host alias that resolves nowhere are named, one line each', async (t) => {
  const result = await deploy('nowhere');
  t.is(result.code, 1, result.output);
  const sshConfig = join(repo.dir, 'ssh_config');
  t.regex(
    result.stderr,
    new RegExp(
      `app-unknown\\.invalid: cannot resolve host name app-unknown\\.invalid: no Host in ${escaped(sshConfig)} gives it a HostName, and DNS does not know it`,
    ),
  );
  t.regex(
    result.stderr,
    new RegExp(
      `closed-gateway-user: jump host closed-gateway \\(${escaped(world.sshUser)}@${escaped(address(hosts.bastion))}:2\\): connection refused on port 2`,
    ),
  );
});

test.serial("an environment's own ssh.identityFile is the key its hosts are logged in to with", async (t) => {
  const result = await deploy('keyed');
  t.is(result.code, 0, result.output);
  t.regex(
    await lastLogin(hosts.keyed),
    new RegExp(`Accepted publickey for ${world.sshUser} .* ${escaped(secondKey.fingerprint)}$`),
    'the second key logged in',
  );
  t.is((await projectContainers(world.engines[hosts.keyed], PROJECT)).web?.State, 'running');

  const elsewhere = await deploy('keyed-elsewhere');
  t.is(elsewhere.code, 1, elsewhere.output);
  t.regex(
    elsewhere.stderr,
    new RegExp(`${escaped(address(hosts.notKeyed))}: authentication failed for user ${world.sshUser} \\(key ${escaped(secondKey.path)}\\)`),
    "the environment's key, not the top-level one, was offered: the host does not authorise it",
  );
});
