import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DEFAULT_DOCKER_SOCKET, DOCKER_ENDPOINT_PROBE, dockerEndpoint, parseDockerProbe } from '../../dist/core/docker-endpoint.js';

const unset = { dockerHost: '', dockerContext: '', currentContext: '' };

test('the probe output is read line by line; a setting not printed is unset', (t) => {
  t.deepEqual(parseDockerProbe('DOCKER_HOST=unix:///run/x/docker.sock\nDOCKER_CONTEXT=\ncurrentContext=remote\n'), {
    dockerHost: 'unix:///run/x/docker.sock',
    dockerContext: '',
    currentContext: 'remote',
  });
  t.deepEqual(parseDockerProbe('DOCKER_HOST=\nDOCKER_CONTEXT=\n'), unset);
  t.deepEqual(parseDockerProbe(''), unset);
  t.deepEqual(
    parseDockerProbe('DOCKER_HOST=tcp://h:2376/?a=b\n'),
    { ...unset, dockerHost: 'tcp://h:2376/?a=b' },
    'only the first = separates',
  );
  t.deepEqual(parseDockerProbe('Welcome!\nDOCKER_CONTEXT=ci\nother=1\n'), { ...unset, dockerContext: 'ci' }, 'other lines are ignored');
});

const cases = [
  ['nothing set: the default socket', {}, { kind: 'socket', path: DEFAULT_DOCKER_SOCKET }],
  [
    'DOCKER_HOST unix socket',
    { dockerHost: 'unix:///run/pipeline-world/h1/docker.sock' },
    { kind: 'socket', path: '/run/pipeline-world/h1/docker.sock' },
  ],
  ['DOCKER_HOST unix:// without a path: the default socket', { dockerHost: 'unix://' }, { kind: 'socket', path: DEFAULT_DOCKER_SOCKET }],
  [
    'DOCKER_HOST wins over a context',
    { dockerHost: 'unix:///run/user/1000/docker.sock', dockerContext: 'ci', currentContext: 'remote' },
    { kind: 'socket', path: '/run/user/1000/docker.sock' },
  ],
  ['DOCKER_HOST tcp', { dockerHost: 'tcp://10.0.0.5:2376' }, { kind: 'cli', reason: 'DOCKER_HOST is tcp://10.0.0.5:2376' }],
  ['DOCKER_HOST ssh', { dockerHost: 'ssh://me@engine' }, { kind: 'cli', reason: 'DOCKER_HOST is ssh://me@engine' }],
  [
    'DOCKER_HOST relative unix path',
    { dockerHost: 'unix://docker.sock' },
    { kind: 'cli', reason: 'DOCKER_HOST is a relative socket path (unix://docker.sock)' },
  ],
  ['DOCKER_CONTEXT', { dockerContext: 'ci' }, { kind: 'cli', reason: 'DOCKER_CONTEXT is ci' }],
  ['DOCKER_CONTEXT default', { dockerContext: 'default' }, { kind: 'socket', path: DEFAULT_DOCKER_SOCKET }],
  [
    'DOCKER_CONTEXT default wins over config.json',
    { dockerContext: 'default', currentContext: 'remote' },
    { kind: 'socket', path: DEFAULT_DOCKER_SOCKET },
  ],
  ['currentContext in config.json', { currentContext: 'remote' }, { kind: 'cli', reason: 'the docker context is remote (config.json)' }],
  ['currentContext default', { currentContext: 'default' }, { kind: 'socket', path: DEFAULT_DOCKER_SOCKET }],
];

for (const [name, settings, expected] of cases) {
  test(`dockerEndpoint: ${name}`, (t) => {
    t.deepEqual(dockerEndpoint({ ...unset, ...settings }), expected);
  });
}

/** Runs the probe with a shell of this machine, in an environment made of `env` only. */
function probe(env) {
  const [program, ...args] = DOCKER_ENDPOINT_PROBE;
  return execFileSync(program, args, { env: { PATH: process.env.PATH, HOME: '/nonexistent', ...env } }).toString();
}

test('the probe prints the variables, and of config.json only its currentContext', (t) => {
  const config = mkdtempSync(join(tmpdir(), 'probe-'));
  t.teardown(() => rmSync(config, { recursive: true, force: true }));
  writeFileSync(
    join(config, 'config.json'),
    JSON.stringify({ auths: { 'r:5000': { auth: 'c2VjcmV0' } }, currentContext: 'remote-1' }, null, 2),
  );
  t.is(probe({}), 'DOCKER_HOST=\nDOCKER_CONTEXT=\n', 'no config.json: nothing about it, and no error');
  t.is(probe({ DOCKER_CONFIG: config }), 'DOCKER_HOST=\nDOCKER_CONTEXT=\ncurrentContext=remote-1\n');
  writeFileSync(join(config, 'config.json'), '{"auths":{"r:5000":{"auth":"c2VjcmV0"}},"currentContext":"remote-2"}');
  const output = probe({ DOCKER_CONFIG: config, DOCKER_HOST: 'unix:///run/d.sock', DOCKER_CONTEXT: 'ci' });
  t.is(output, 'DOCKER_HOST=unix:///run/d.sock\nDOCKER_CONTEXT=ci\ncurrentContext=remote-2', 'a one-line config.json too');
  t.false(output.includes('c2VjcmV0'), 'no credentials');
  t.deepEqual(dockerEndpoint(parseDockerProbe(output)), { kind: 'socket', path: '/run/d.sock' });
});
