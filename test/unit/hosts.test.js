import test from 'ava';
import { parseHost } from '../../dist/core/hosts.js';

const defaults = { user: 'deploy', port: 22 };
const cases = [
  ['qa-web-1.example.com', { host: 'qa-web-1.example.com', user: 'deploy', port: 22, id: 'deploy@qa-web-1.example.com' }],
  ['root@prod-worker-1', { host: 'prod-worker-1', user: 'root', port: 22, id: 'root@prod-worker-1' }],
  ['prod-web-1:2222', { host: 'prod-web-1', user: 'deploy', port: 2222, id: 'deploy@prod-web-1:2222' }],
  ['deploy@prod-web-1:2222', { host: 'prod-web-1', user: 'deploy', port: 2222, id: 'deploy@prod-web-1:2222' }],
  ['10.213.0.11', { host: '10.213.0.11', user: 'deploy', port: 22, id: 'deploy@10.213.0.11' }],
  ['ops@[::1]:2200', { host: '::1', user: 'ops', port: 2200, id: 'ops@[::1]:2200' }],
];

for (const [spec, expected] of cases) {
  test(`parseHost(${spec})`, (t) => {
    t.deepEqual(parseHost(spec, defaults), { kind: 'ssh', ...expected });
  });
}

test('the host "local" is the runner\'s own engine', (t) => {
  t.deepEqual(parseHost('local', defaults), { kind: 'local', id: 'local' });
});

test('default user and port come from ssh settings', (t) => {
  t.like(parseHost('web-1', { user: 'ops', port: 2022 }), { user: 'ops', port: 2022, id: 'ops@web-1:2022' });
});

for (const spec of ['', 'a b', 'user@', '@host', 'host:', 'host:0', 'host:65536', 'host:22x', 'a@b@c', 'host:1:2']) {
  test(`parseHost(${JSON.stringify(spec)}) is an error naming the host`, (t) => {
    const error = t.throws(() => parseHost(spec, defaults));
    t.is(error.name, 'ConfigError');
    t.true(error.message.includes(`"${spec}"`));
  });
}
