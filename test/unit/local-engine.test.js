import { createHash } from 'node:crypto';
import test from 'ava';
import { contextFolder, localEngine } from '../../dist/core/local-engine.js';

const HOME = '/home/me';
const sha = (name) => createHash('sha256').update(name).digest('hex');
const meta = (name, host, extra = {}) =>
  JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: false, ...extra } } });
const metaFile = (name, config = `${HOME}/.docker`) => `${config}/contexts/meta/${sha(name)}/meta.json`;
const tlsFile = (name, file, config = `${HOME}/.docker`) => `${config}/contexts/tls/${sha(name)}/docker/${file}`;
const colima = 'unix:///home/me/.colima/default/docker.sock';

const DEFAULT = { kind: 'socket', path: '/var/run/docker.sock', address: 'unix:///var/run/docker.sock', from: 'the default socket' };
const COLIMA_FILES = {
  [`${HOME}/.docker/config.json`]: JSON.stringify({ auths: {}, currentContext: 'colima' }),
  [metaFile('colima')]: meta('colima', colima),
};

/** name, env, files (absolute path → text), expected */
const cases = [
  ['nothing set, no config.json: the default socket', {}, {}, DEFAULT],
  ['a config.json without currentContext: the default socket', {}, { [`${HOME}/.docker/config.json`]: '{"auths":{}}' }, DEFAULT],
  ['currentContext default: the default socket', {}, { [`${HOME}/.docker/config.json`]: '{"currentContext":"default"}' }, DEFAULT],
  [
    "currentContext: that context's endpoint",
    {},
    COLIMA_FILES,
    { kind: 'socket', path: '/home/me/.colima/default/docker.sock', address: colima, from: 'from context colima in ~/.docker/config.json' },
  ],
  [
    'DOCKER_CONFIG: its config.json and contexts',
    { DOCKER_CONFIG: '/etc/dock' },
    {
      '/etc/dock/config.json': '{"currentContext":"orbstack"}',
      [metaFile('orbstack', '/etc/dock')]: meta('orbstack', 'unix:///home/me/.orbstack/run/docker.sock'),
      ...COLIMA_FILES,
    },
    {
      kind: 'socket',
      path: '/home/me/.orbstack/run/docker.sock',
      address: 'unix:///home/me/.orbstack/run/docker.sock',
      from: 'from context orbstack in /etc/dock/config.json',
    },
  ],
  [
    'DOCKER_CONFIG under the home folder is shown with ~',
    { DOCKER_CONFIG: `${HOME}/alt` },
    { [`${HOME}/alt/config.json`]: '{"currentContext":"colima"}', [metaFile('colima', `${HOME}/alt`)]: meta('colima', colima) },
    { kind: 'socket', path: '/home/me/.colima/default/docker.sock', address: colima, from: 'from context colima in ~/alt/config.json' },
  ],
  [
    'DOCKER_CONTEXT wins over config.json',
    { DOCKER_CONTEXT: 'desktop-linux' },
    { ...COLIMA_FILES, [metaFile('desktop-linux')]: meta('desktop-linux', 'unix:///home/me/.docker/run/docker.sock') },
    {
      kind: 'socket',
      path: '/home/me/.docker/run/docker.sock',
      address: 'unix:///home/me/.docker/run/docker.sock',
      from: 'from context desktop-linux in DOCKER_CONTEXT',
    },
  ],
  ['DOCKER_CONTEXT default wins over config.json: the default socket', { DOCKER_CONTEXT: 'default' }, COLIMA_FILES, DEFAULT],
  [
    'DOCKER_HOST wins over DOCKER_CONTEXT and config.json',
    { DOCKER_HOST: 'unix:///run/user/1000/docker.sock', DOCKER_CONTEXT: 'colima' },
    COLIMA_FILES,
    { kind: 'socket', path: '/run/user/1000/docker.sock', address: 'unix:///run/user/1000/docker.sock', from: 'from DOCKER_HOST' },
  ],
  [
    'an empty DOCKER_HOST or DOCKER_CONTEXT counts as unset',
    { DOCKER_HOST: '', DOCKER_CONTEXT: '' },
    COLIMA_FILES,
    { kind: 'socket', path: '/home/me/.colima/default/docker.sock', address: colima, from: 'from context colima in ~/.docker/config.json' },
  ],
  [
    'DOCKER_HOST unix:// without a path: the default socket',
    { DOCKER_HOST: 'unix://' },
    {},
    { kind: 'socket', path: '/var/run/docker.sock', address: 'unix://', from: 'from DOCKER_HOST' },
  ],
  [
    'DOCKER_HOST tcp: plain HTTP',
    { DOCKER_HOST: 'tcp://10.0.0.5:2375' },
    {},
    { kind: 'tcp', host: '10.0.0.5', port: 2375, address: 'tcp://10.0.0.5:2375', from: 'from DOCKER_HOST' },
  ],
  [
    'DOCKER_HOST without a scheme or port is tcp on 2375',
    { DOCKER_HOST: 'engine.local' },
    {},
    { kind: 'tcp', host: 'engine.local', port: 2375, address: 'engine.local', from: 'from DOCKER_HOST' },
  ],
  [
    'DOCKER_HOST tcp IPv6',
    { DOCKER_HOST: 'tcp://[::1]:2375/' },
    {},
    { kind: 'tcp', host: '::1', port: 2375, address: 'tcp://[::1]:2375/', from: 'from DOCKER_HOST' },
  ],
  [
    'DOCKER_HOST tcp with DOCKER_TLS_VERIFY: certificates from DOCKER_CERT_PATH',
    { DOCKER_HOST: 'tcp://10.0.0.5:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' },
    { '/certs/ca.pem': 'CA', '/certs/cert.pem': 'CERT', '/certs/key.pem': 'KEY' },
    {
      kind: 'tcp',
      host: '10.0.0.5',
      port: 2376,
      tls: { ca: 'CA', cert: 'CERT', key: 'KEY', verify: true },
      address: 'tcp://10.0.0.5:2376',
      from: 'from DOCKER_HOST',
    },
  ],
  [
    'DOCKER_TLS_VERIFY without DOCKER_CERT_PATH: certificates from the config folder',
    { DOCKER_HOST: 'tcp://10.0.0.5:2376', DOCKER_TLS_VERIFY: '1' },
    { [`${HOME}/.docker/ca.pem`]: 'CA' },
    {
      kind: 'tcp',
      host: '10.0.0.5',
      port: 2376,
      tls: { ca: 'CA', verify: true },
      address: 'tcp://10.0.0.5:2376',
      from: 'from DOCKER_HOST',
    },
  ],
  [
    'DOCKER_TLS: TLS without verification',
    { DOCKER_HOST: 'tcp://10.0.0.5:2376', DOCKER_TLS: '1' },
    {},
    { kind: 'tcp', host: '10.0.0.5', port: 2376, tls: { verify: false }, address: 'tcp://10.0.0.5:2376', from: 'from DOCKER_HOST' },
  ],
  [
    'TLS settings do not apply to a socket',
    { DOCKER_HOST: 'unix:///run/d.sock', DOCKER_TLS_VERIFY: '1' },
    {},
    { kind: 'socket', path: '/run/d.sock', address: 'unix:///run/d.sock', from: 'from DOCKER_HOST' },
  ],
  [
    'a tcp context with TLS material',
    { DOCKER_CONTEXT: 'remote' },
    {
      [metaFile('remote')]: meta('remote', 'tcp://build.example.com:2376'),
      [tlsFile('remote', 'ca.pem')]: 'CA',
      [tlsFile('remote', 'cert.pem')]: 'CERT',
      [tlsFile('remote', 'key.pem')]: 'KEY',
    },
    {
      kind: 'tcp',
      host: 'build.example.com',
      port: 2376,
      tls: { ca: 'CA', cert: 'CERT', key: 'KEY', verify: true },
      address: 'tcp://build.example.com:2376',
      from: 'from context remote in DOCKER_CONTEXT',
    },
  ],
  [
    'a tcp context without TLS material: plain HTTP',
    { DOCKER_CONTEXT: 'remote' },
    { [metaFile('remote')]: meta('remote', 'tcp://10.0.0.5:2375') },
    { kind: 'tcp', host: '10.0.0.5', port: 2375, address: 'tcp://10.0.0.5:2375', from: 'from context remote in DOCKER_CONTEXT' },
  ],
  [
    'a tcp context with SkipTLSVerify',
    { DOCKER_CONTEXT: 'remote' },
    { [metaFile('remote')]: meta('remote', 'tcp://10.0.0.5:2376', { SkipTLSVerify: true }), [tlsFile('remote', 'ca.pem')]: 'CA' },
    {
      kind: 'tcp',
      host: '10.0.0.5',
      port: 2376,
      tls: { ca: 'CA', verify: false },
      address: 'tcp://10.0.0.5:2376',
      from: 'from context remote in DOCKER_CONTEXT',
    },
  ],
  [
    'npipe on Windows',
    { DOCKER_HOST: 'npipe:////./pipe/docker_engine' },
    {},
    { kind: 'socket', path: '//./pipe/docker_engine', address: 'npipe:////./pipe/docker_engine', from: 'from DOCKER_HOST' },
  ],
];

for (const [name, env, files, expected] of cases) {
  test(`localEngine: ${name}`, (t) => {
    t.deepEqual(localEngine({ env, home: HOME, read: (path) => files[path] }), expected);
  });
}

test('localEngine: the default on Windows is the named pipe', (t) => {
  t.deepEqual(localEngine({ env: {}, home: 'C:\\Users\\me', platform: 'win32', read: () => undefined }), {
    kind: 'socket',
    path: '//./pipe/docker_engine',
    address: 'npipe:////./pipe/docker_engine',
    from: 'the default named pipe',
  });
});

/** name, env, files, the one line */
const unusable = [
  [
    'DOCKER_HOST ssh',
    { DOCKER_HOST: 'ssh://me@engine' },
    {},
    'cannot use the Docker engine at ssh://me@engine, from DOCKER_HOST: pipeline reaches its own engine over unix:// or tcp:// only (forward it to a local socket: ssh -NL /tmp/docker.sock:/var/run/docker.sock HOST, then DOCKER_HOST=unix:///tmp/docker.sock)',
  ],
  [
    'an ssh context',
    {},
    { [`${HOME}/.docker/config.json`]: '{"currentContext":"far"}', [metaFile('far')]: meta('far', 'ssh://deploy@far.example.com') },
    'cannot use the Docker engine at ssh://deploy@far.example.com, from context far in ~/.docker/config.json: pipeline reaches its own engine over unix:// or tcp:// only (forward it to a local socket: ssh -NL /tmp/docker.sock:/var/run/docker.sock HOST, then DOCKER_HOST=unix:///tmp/docker.sock)',
  ],
  [
    'another scheme',
    { DOCKER_HOST: 'http://10.0.0.5:2375' },
    {},
    'cannot use the Docker engine at http://10.0.0.5:2375, from DOCKER_HOST: pipeline reaches its own engine over unix:// or tcp:// only',
  ],
  [
    'a tcp port out of range',
    { DOCKER_HOST: 'tcp://10.0.0.5:99999' },
    {},
    'cannot use the Docker engine at tcp://10.0.0.5:99999, from DOCKER_HOST: not an address like tcp://HOST:PORT',
  ],
  [
    'a tcp address with a path',
    { DOCKER_HOST: 'tcp://10.0.0.5:2375/x' },
    {},
    'cannot use the Docker engine at tcp://10.0.0.5:2375/x, from DOCKER_HOST: not an address like tcp://HOST:PORT',
  ],
  [
    'a context that does not exist (DOCKER_CONTEXT)',
    { DOCKER_CONTEXT: 'gone' },
    {},
    `context gone in DOCKER_CONTEXT does not exist (no ~/.docker/contexts/meta/${sha('gone')}/meta.json): create it with docker context create, or choose another with docker context use`,
  ],
  [
    'a context that does not exist (config.json)',
    {},
    { [`${HOME}/.docker/config.json`]: '{"currentContext":"colima"}' },
    `context colima in ~/.docker/config.json does not exist (no ~/.docker/contexts/meta/${sha('colima')}/meta.json): create it with docker context create, or choose another with docker context use`,
  ],
  [
    'a context without a docker endpoint',
    { DOCKER_CONTEXT: 'k8s' },
    { [metaFile('k8s')]: JSON.stringify({ Name: 'k8s', Endpoints: { kubernetes: {} } }) },
    `context k8s in DOCKER_CONTEXT has no Docker endpoint (Endpoints.docker.Host in ~/.docker/contexts/meta/${sha('k8s')}/meta.json)`,
  ],
  [
    'a meta.json that is not JSON',
    { DOCKER_CONTEXT: 'bad' },
    { [metaFile('bad')]: '{' },
    /^~\/\.docker\/contexts\/meta\/[0-9a-f]{64}\/meta\.json of context bad in DOCKER_CONTEXT is not valid JSON \(.+\)$/,
  ],
  [
    'a config.json that is not JSON',
    {},
    { [`${HOME}/.docker/config.json`]: '{"currentContext":' },
    /^~\/\.docker\/config\.json is not valid JSON \(.+\): fix it, or set DOCKER_HOST$/,
  ],
  [
    'a currentContext that is not a string',
    {},
    { [`${HOME}/.docker/config.json`]: '{"currentContext":1}' },
    'currentContext in ~/.docker/config.json is not a string: fix it, or set DOCKER_HOST',
  ],
];

for (const [name, env, files, message] of unusable) {
  test(`localEngine cannot use: ${name}`, (t) => {
    const engine = localEngine({ env, home: HOME, read: (path) => files[path] });
    t.is(engine.kind, 'unusable');
    if (typeof message === 'string') t.is(engine.message, message);
    else t.regex(engine.message, message);
    t.false(engine.message.includes('\n'), 'one line');
  });
}

test("a context's folder is the SHA-256 of its name, as the docker CLI names it", (t) => {
  // The folders Docker Desktop and Colima create under ~/.docker/contexts/meta/.
  t.is(contextFolder('desktop-linux'), 'fe9c6bd7a66301f49ca9b6a70b217107cd1284598bfc254700c989b916da791e');
  t.is(contextFolder('colima'), 'f24fd3749c1368328e2b149bec149cb6795619f244c5b584e844961215dadd16');
});

test('only the files the decision needs are read', (t) => {
  const read = [];
  localEngine({
    env: { DOCKER_HOST: 'unix:///run/d.sock' },
    home: HOME,
    read: (path) => {
      read.push(path);
      return undefined;
    },
  });
  t.deepEqual(read, [], 'DOCKER_HOST: no file');
  localEngine({
    env: { DOCKER_CONTEXT: 'colima' },
    home: HOME,
    read: (path) => {
      read.push(path);
      return COLIMA_FILES[path];
    },
  });
  t.deepEqual(read, [metaFile('colima')], 'a unix context: its meta.json only, not config.json');
});
