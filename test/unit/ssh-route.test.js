// How a host is reached (src/core/ssh-route.ts, ssh-config.ts): host spec + ssh settings + SSH config → route.
import test from 'ava';
import { environmentSsh, parseHost } from '../../dist/core/hosts.js';
import { describeConnectError, describeHostKeyProblem } from '../../dist/core/ssh.js';
import { lookupHost, parseSshConfig } from '../../dist/core/ssh-config.js';
import { describeHop, resolveRoute } from '../../dist/core/ssh-route.js';

const HOME = '/home/me';
const CONTEXT = { home: HOME, localUser: 'me' };
const KNOWN = `${HOME}/.ssh/known_hosts`;
const FILE = '/home/me/.ssh/config';

const file = (text, path = FILE) => ({ path, entries: parseSshConfig(text, path) });
/** A host spec as the pipeline config writes it, with the settings' user and port as planDeploy gives them. */
const address = (spec, settings = {}) => parseHost(spec, settings);
const route = (spec, settings, text) =>
  resolveRoute(address(spec, settings), settings, text === undefined ? undefined : file(text), CONTEXT);
/** A hop in short: user@host:port, identity files (! = required), known_hosts files. */
const hop = (h) =>
  `${h.name}=${h.user}@${h.host}:${h.port} id[${h.identityFiles.map((i) => `${i.required ? '!' : ''}${i.path}`).join(' ')}] kh[${h.knownHosts.join(' ')}]`;
const short = (r) => ({ target: hop(r.target), jumps: r.jumps.map(hop) });

const BASTIONED = `
Host bastion
  HostName 10.0.0.5
  User jump
  IdentityFile ~/.ssh/id_bastion

Host app
  HostName 10.1.0.7
  User ops
  Port 2222
  IdentityFile %d/.ssh/id_%r
  ProxyJump bastion

Host *
  User fallback
  IdentityFile ~/.ssh/id_default
`;

const routes = [
  ['no SSH config: the spec and the defaults', 'web1', {}, undefined, { target: `web1=deploy@web1:22 id[] kh[${KNOWN}]`, jumps: [] }],
  [
    'no SSH config: the settings',
    'web1',
    { user: 'ci', port: 2200, identityFile: '/k/ci', knownHosts: '/k/kh' },
    undefined,
    { target: 'web1=ci@web1:2200 id[!/k/ci] kh[/k/kh]', jumps: [] },
  ],
  [
    'the spec wins over the settings',
    'root@web1:2022',
    { user: 'ci', port: 2200 },
    undefined,
    { target: `web1=root@web1:2022 id[] kh[${KNOWN}]`, jumps: [] },
  ],
  [
    'a Host alias: HostName, User, Port and IdentityFile from the file, %d and %r expanded, Host * values after',
    'app',
    {},
    BASTIONED.replace('  ProxyJump bastion\n', ''),
    { target: `app=ops@10.1.0.7:2222 id[/home/me/.ssh/id_ops /home/me/.ssh/id_default] kh[${KNOWN}]`, jumps: [] },
  ],
  [
    "ProxyJump: the bastion from its own Host block, the settings' key after its own",
    'app',
    { identityFile: '/k/ci' },
    BASTIONED,
    {
      target: `app=ops@10.1.0.7:2222 id[!/k/ci /home/me/.ssh/id_ops /home/me/.ssh/id_default] kh[${KNOWN}]`,
      jumps: [`bastion=jump@10.0.0.5:22 id[/home/me/.ssh/id_bastion /home/me/.ssh/id_default !/k/ci] kh[${KNOWN}]`],
    },
  ],
  [
    'the settings are the command line for the target: their user and port win over the file',
    'app',
    { user: 'ci', port: 22 },
    BASTIONED,
    {
      target: `app=ci@10.1.0.7:22 id[/home/me/.ssh/id_ci /home/me/.ssh/id_default] kh[${KNOWN}]`,
      jumps: [`bastion=jump@10.0.0.5:22 id[/home/me/.ssh/id_bastion /home/me/.ssh/id_default] kh[${KNOWN}]`],
    },
  ],
  [
    "for a jump host the settings are defaults: the file's User wins, the settings' user fills in",
    'app',
    { user: 'ci' },
    'Host app\n  ProxyJump gw1,gw2\nHost gw1\n  User admin\n',
    { target: `app=ci@app:22 id[] kh[${KNOWN}]`, jumps: [`gw1=admin@gw1:22 id[] kh[${KNOWN}]`, `gw2=ci@gw2:22 id[] kh[${KNOWN}]`] },
  ],
  [
    'settings.knownHosts is trusted for every hop, over UserKnownHostsFile',
    'app',
    { knownHosts: '/k/kh' },
    `${BASTIONED}\nHost *\n  UserKnownHostsFile ~/.ssh/other_known_hosts\n`,
    {
      target: 'app=ops@10.1.0.7:2222 id[/home/me/.ssh/id_ops /home/me/.ssh/id_default] kh[/k/kh]',
      jumps: ['bastion=jump@10.0.0.5:22 id[/home/me/.ssh/id_bastion /home/me/.ssh/id_default] kh[/k/kh]'],
    },
  ],
  [
    'UserKnownHostsFile when the settings name none, %k and several files',
    'web1',
    {},
    'Host web1\n  UserKnownHostsFile ~/.ssh/kh_%k /etc/ssh/team_known_hosts\n',
    { target: `web1=deploy@web1:22 id[] kh[/home/me/.ssh/kh_web1 /etc/ssh/team_known_hosts]`, jumps: [] },
  ],
  [
    "ProxyJump a,b: b through a, b's own ProxyJump replaced, a's own ProxyJump followed",
    'app',
    {},
    'Host app\n  ProxyJump a,b\nHost b\n  ProxyJump ignored\nHost a\n  ProxyJump c\n',
    {
      target: `app=deploy@app:22 id[] kh[${KNOWN}]`,
      jumps: [`c=deploy@c:22 id[] kh[${KNOWN}]`, `a=deploy@a:22 id[] kh[${KNOWN}]`, `b=deploy@b:22 id[] kh[${KNOWN}]`],
    },
  ],
  [
    "a ProxyJump spec with user and port (and ssh://) wins over the jump host's Host block",
    'app',
    {},
    'Host app\n  ProxyJump ssh://root@gw:2022\nHost gw\n  User other\n  Port 22\n  HostName 10.9.9.9\n',
    { target: `app=deploy@app:22 id[] kh[${KNOWN}]`, jumps: [`gw=root@10.9.9.9:2022 id[] kh[${KNOWN}]`] },
  ],
  [
    'ProxyJump none in a more specific block disables the Host * one',
    'db',
    {},
    'Host db\n  ProxyJump none\nHost *\n  ProxyJump bastion\n',
    { target: `db=deploy@db:22 id[] kh[${KNOWN}]`, jumps: [] },
  ],
  [
    'ProxyCommand none is a direct connection',
    'db',
    {},
    'Host db\n  ProxyCommand none\n  ProxyJump bastion\n',
    { target: `db=deploy@db:22 id[] kh[${KNOWN}]`, jumps: [] },
  ],
  [
    'Host patterns: wildcards, ?, negation, case; a comma is no separator there',
    'Web-12',
    {},
    'Host x,Web-12\n  User comma\nHost !web-12 web-*\n  User no\nHost web-? web-???\n  User short\nHost web-?? y\n  User yes\nHost *\n  User late\n',
    { target: `Web-12=yes@Web-12:22 id[] kh[${KNOWN}]`, jumps: [] },
  ],
  [
    'HostName %h and a key named after the host (%h, %n, %p)',
    'web1',
    {},
    'Host web*\n  HostName %h.internal.example.com\n  IdentityFile ~/keys/%n-%h-%p\n',
    { target: `web1=deploy@web1.internal.example.com:22 id[/home/me/keys/web1-web1.internal.example.com-22] kh[${KNOWN}]`, jumps: [] },
  ],
  [
    'IdentityFile none gives no key',
    'web1',
    {},
    'Host web1\n  IdentityFile none\n',
    { target: `web1=deploy@web1:22 id[] kh[${KNOWN}]`, jumps: [] },
  ],
  [
    "Match host sees the HostName so far, originalhost the name, user the user, localuser the runner's",
    'app',
    { user: 'ci' },
    'Host app\n  HostName 10.1.0.7\nMatch host 10.1.*\n  Port 2201\nMatch originalhost app user ci localuser me\n  IdentityFile /k/matched\nMatch user nobody\n  HostName wrong\n',
    { target: `app=ci@10.1.0.7:2201 id[/k/matched] kh[${KNOWN}]`, jumps: [] },
  ],
  [
    'Match host takes a comma list',
    'app',
    {},
    'Match host db,ap?\n  Port 2202\n',
    { target: `app=deploy@app:2202 id[] kh[${KNOWN}]`, jumps: [] },
  ],
  [
    'Match all and negated criteria',
    'app',
    {},
    'Match !host db* all\n  User notdb\n',
    { target: `app=notdb@app:22 id[] kh[${KNOWN}]`, jumps: [] },
  ],
  [
    'Match exec, canonical and final cannot be evaluated: their blocks never apply',
    'app',
    {},
    'Match exec "test -f /etc/a"\n  User execed\nMatch canonical host app\n  User canon\nMatch final\n  User final\nMatch localnetwork 10.0.0.0/8\n  User net\nHost app\n  User plain\n',
    { target: `app=plain@app:22 id[] kh[${KNOWN}]`, jumps: [] },
  ],
  [
    'keywords are case-insensitive, Key=Value works, quotes are removed',
    'app',
    {},
    'host app\n  HOSTNAME=10.1.0.7\n  identityfile "/k/with space"\n',
    { target: `app=deploy@10.1.0.7:22 id[/k/with space] kh[${KNOWN}]`, jumps: [] },
  ],
];
for (const [name, spec, settings, text, expected] of routes) {
  test(`resolveRoute: ${name}`, (t) => {
    t.deepEqual(short(route(spec, settings, text)), expected);
  });
}

const failures = [
  [
    'a ProxyJump loop',
    'app',
    'Host app\n  ProxyJump bastion\nHost bastion\n  ProxyJump app\n',
    `SSH config ${FILE}: ProxyJump loop: app → bastion → app`,
  ],
  [
    'a ProxyCommand',
    'app',
    'Host app\n  ProxyCommand ssh -W %h:%p bastion\n',
    `SSH config ${FILE}: app has a ProxyCommand, which the pipeline cannot run; use ProxyJump`,
  ],
  ['a bad Port', 'app', 'Host app\n  Port ssh\n', `SSH config ${FILE}: Port "ssh" for app must be a number from 1 to 65535`],
  [
    'a bad ProxyJump',
    'app',
    'Host app\n  ProxyJump a@@b\n',
    `SSH config ${FILE}: ProxyJump of app: invalid host "a@@b": expected host, user@host, host:port or user@host:port`,
  ],
  [
    'an unknown token',
    'app',
    'Host app\n  IdentityFile ~/.ssh/%C\n',
    `SSH config ${FILE}: IdentityFile ~/.ssh/%C: the token %C is not supported`,
  ],
  [
    "a Match without its argument (the parser's own words)",
    'app',
    'Match host\n  User x\n',
    `cannot parse SSH config ${FILE}: Missing value for match criteria host`,
  ],
];
for (const [name, spec, text, message] of failures) {
  test(`resolveRoute refuses ${name} with one line`, (t) => {
    const error = t.throws(() => route(spec, {}, text));
    t.is(error.name, 'ConfigError');
    t.is(error.message, message);
  });
}

test('parseSshConfig: a line the parser cannot read is a ConfigError naming the file', (t) => {
  const error = t.throws(() => parseSshConfig('Host a\n  IdentityFile "unterminated\n', '/x/config'));
  t.is(error.name, 'ConfigError');
  t.regex(error.message, /^cannot parse SSH config \/x\/config: /);
});

// ---------------------------------------------------------------- Include, as the adapter fills it in

const withInclude = (outer, includedText) => {
  const parsed = file(outer);
  for (const entry of parsed.entries) if (entry.keyword === 'include') entry.included = parseSshConfig(includedText, '/inc');
  return parsed;
};
const includes = [
  [
    'at the top: its lines apply in place, before the blocks after it',
    'Include team\nHost app\n  User late\n',
    'Host app\n  User team\n  HostName 10.2.0.1\n',
    { user: 'team', hostName: '10.2.0.1' },
  ],
  [
    'inside a block that applies: its own Host lines scope only what follows them in it',
    'Host app\n  Include team\n  Port 2200\n',
    'User inner\nHost other\n  HostName no\n',
    { user: 'inner', port: '2200' },
  ],
  [
    'inside a block that does not apply: nothing of it applies, not even its own Host *',
    'Host db\n  Include team\nHost app\n  Port 2201\n',
    'User inner\nHost *\n  HostName no\n',
    { port: '2201' },
  ],
];
for (const [name, outer, included, expected] of includes) {
  test(`Include ${name}`, (t) => {
    const found = lookupHost(withInclude(outer, included), { name: 'app', defaultUser: 'deploy', localUser: 'me' });
    t.deepEqual(found, { identityFiles: [], ...expected });
  });
}

// ---------------------------------------------------------------- per-environment settings

const merges = [
  ['no environment settings: the top level', { user: 'deploy', knownHosts: '/kh' }, undefined, { user: 'deploy', knownHosts: '/kh' }],
  [
    'key by key',
    { user: 'deploy', identityFile: '/k/all', knownHosts: '/kh', passphrase: 'p' },
    { identityFile: '/k/prod', port: 2222 },
    { user: 'deploy', identityFile: '/k/prod', knownHosts: '/kh', passphrase: 'p', port: 2222 },
  ],
  [
    'an undefined value does not erase the top level',
    { user: 'deploy' },
    { user: undefined, config: false },
    { user: 'deploy', config: false },
  ],
];
for (const [name, top, own, expected] of merges) {
  test(`environmentSsh: ${name}`, (t) => t.deepEqual(environmentSsh(top, own), expected));
}

// ---------------------------------------------------------------- messages

test('describeHop names the alias and where it leads', (t) => {
  const [bastion] = route('app', {}, BASTIONED).jumps;
  t.is(describeHop(bastion), 'bastion (jump@10.0.0.5)');
  t.is(describeHop(route('deploy@[fd00::1]:2222', {}, undefined).target), 'deploy@[fd00::1]:2222');
});

test('a name that resolves nowhere says whether the SSH config knows it', (t) => {
  const target = { user: 'deploy', port: 22, host: 'web9' };
  t.is(
    describeConnectError(target, 1000, 'key /k', { code: 'ENOTFOUND' }, { name: 'web9', sshConfig: FILE, gaveHostName: false }),
    `cannot resolve host name web9: no Host in ${FILE} gives it a HostName, and DNS does not know it`,
  );
  t.is(
    describeConnectError(
      { ...target, host: 'web9.internal' },
      1000,
      'key /k',
      { code: 'ENOTFOUND' },
      { name: 'web9', sshConfig: FILE, gaveHostName: true },
    ),
    `cannot resolve host name web9.internal (the HostName of web9 in ${FILE})`,
  );
});

test('a host key problem with several known_hosts files names them all, and adds to the first', (t) => {
  t.is(
    describeHostKeyProblem('10.0.0.5', 22, ['/a/known_hosts', '/b/team'], 'unknown'),
    "host key not in /a/known_hosts or /b/team; after checking the host's key fingerprint, add it with: ssh-keyscan 10.0.0.5 >> /a/known_hosts",
  );
  t.is(
    describeHostKeyProblem('10.0.0.5', 22, ['/a/known_hosts', '/b/team'], 'mismatch'),
    'host key does not match /a/known_hosts, /b/team (possible man-in-the-middle attack); refusing to connect',
  );
});
