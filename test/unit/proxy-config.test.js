import test from 'ava';
import { validateConfig } from '../../dist/config/schema.js';
import { documentedConfig } from '../fixtures/configs.js';

test('proxy and rollout defaults: caddy:2, a 30 s drain, every host at once', (t) => {
  const config = validateConfig(documentedConfig());
  t.deepEqual(config.proxy, { image: 'caddy:2', drainTimeout: 30_000 });
  t.is(config.rollout, undefined);
  t.false(config.services.web.proxy);
});

test('proxy, rollout and services.NAME.proxy as written', (t) => {
  const raw = documentedConfig();
  raw.proxy = { image: '10.213.0.1:5000/caddy:2', drainTimeout: '2s' };
  raw.rollout = { batch: '50%' };
  raw.services.web.proxy = true;
  const config = validateConfig(raw);
  t.deepEqual(config.proxy, { image: '10.213.0.1:5000/caddy:2', drainTimeout: 2_000 });
  t.deepEqual(config.rollout, { batch: '50%' });
  t.true(config.services.web.proxy);
  raw.rollout = { batch: 2 };
  t.deepEqual(validateConfig(raw).rollout, { batch: 2 });
});

const invalid = [
  [
    'a drain timeout that is not a duration',
    (c) => {
      c.proxy = { drainTimeout: 30 };
    },
    /proxy\.drainTimeout: /,
  ],
  [
    'an empty proxy image',
    (c) => {
      c.proxy = { image: '' };
    },
    /proxy\.image: /,
  ],
  [
    'an unknown proxy field',
    (c) => {
      c.proxy = { port: 80 };
    },
    /proxy\.port: unknown field/,
  ],
  [
    'a batch of no hosts',
    (c) => {
      c.rollout = { batch: 0 };
    },
    /rollout\.batch: /,
  ],
  [
    'a percentage above 100',
    (c) => {
      c.rollout = { batch: '150%' };
    },
    /rollout\.batch: must be a number of hosts or a percentage/,
  ],
  [
    'a batch that is neither',
    (c) => {
      c.rollout = { batch: 'two' };
    },
    /rollout\.batch: must be a number of hosts or a percentage/,
  ],
  [
    'rollout without batch',
    (c) => {
      c.rollout = {};
    },
    /rollout\.batch: /,
  ],
  [
    'proxy that is not a boolean',
    (c) => {
      c.services.web.proxy = 'yes';
    },
    /services\.web\.proxy: expected boolean/,
  ],
  [
    'a proxied service with no ports',
    (c) => {
      c.services.worker.proxy = true;
    },
    /services\.worker\.ports: a proxied service needs at least one "HOST:CONTAINER" port/,
  ],
  [
    'a proxied service with a container port only',
    (c) => {
      c.services.web.proxy = true;
      c.services.web.ports = ['8000'];
    },
    /services\.web\.ports: "8000": a proxied service's ports must be "HOST:CONTAINER" over tcp/,
  ],
  [
    'a proxied udp port',
    (c) => {
      c.services.web.proxy = true;
      c.services.web.ports = ['53:53/udp'];
    },
    /services\.web\.ports: "53:53\/udp": a proxied service's ports/,
  ],
];

for (const [name, change, message] of invalid) {
  test(`invalid: ${name}`, (t) => {
    const raw = documentedConfig();
    change(raw);
    const error = t.throws(() => validateConfig(raw));
    t.regex(error.message, message);
    t.is(error.message.split('\n').length, 1, 'one line');
  });
}
