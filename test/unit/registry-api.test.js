import test from 'ava';
import {
  inCidr,
  isDigest,
  localLocation,
  manifestDigest,
  parseChallenge,
  proxyPort,
  proxyRoute,
  registryScheme,
  tokenUrl,
} from '../../dist/core/registry-api.js';

test('challenges: basic and bearer, quoted and bare parameters', (t) => {
  t.deepEqual(parseChallenge('Basic realm="pipeline-world"'), { scheme: 'basic', params: { realm: 'pipeline-world' } });
  t.deepEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull"'), {
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:a/b:pull' },
  });
  t.deepEqual(parseChallenge('bearer realm=https://gcr.io/v2/token,service=gcr.io'), {
    scheme: 'bearer',
    params: { realm: 'https://gcr.io/v2/token', service: 'gcr.io' },
  });
  t.is(parseChallenge(undefined), undefined);
  t.is(parseChallenge('Negotiate abc'), undefined);
});

test('the token URL names the service and the scope', (t) => {
  const challenge = parseChallenge('Bearer realm="https://auth.example.com/token",service="registry.example.com"');
  t.is(
    tokenUrl(challenge, 'repository:allume/app:pull,push'),
    'https://auth.example.com/token?service=registry.example.com&scope=repository%3Aallume%2Fapp%3Apull%2Cpush',
  );
  t.is(tokenUrl({ scheme: 'bearer', params: {} }, 'x'), undefined);
});

const schemes = [
  {
    title: 'an insecure registry of the engine',
    server: '10.213.0.1:5000',
    config: { IndexConfigs: { '10.213.0.1:5000': { Secure: false } } },
    want: 'http',
  },
  {
    title: 'a loopback registry (127.0.0.0/8 is insecure by default)',
    server: '127.0.0.1:5000',
    config: { InsecureRegistryCIDRs: ['127.0.0.0/8'] },
    want: 'http',
  },
  { title: 'an address in an insecure CIDR', server: '10.1.2.3', config: { InsecureRegistryCIDRs: ['10.0.0.0/8'] }, want: 'http' },
  {
    title: 'a name is not matched against CIDRs',
    server: 'registry.local:5000',
    config: { InsecureRegistryCIDRs: ['0.0.0.0/0'] },
    want: 'https',
  },
  {
    title: 'a secure registry',
    server: 'registry.example.com',
    config: { IndexConfigs: { 'registry.example.com': { Secure: true } }, InsecureRegistryCIDRs: ['127.0.0.0/8'] },
    want: 'https',
  },
  { title: 'no settings', server: 'registry.example.com', config: undefined, want: 'https' },
];

for (const { title, server, config, want } of schemes) {
  test(`scheme: ${title}`, (t) => {
    t.is(registryScheme(config, server), want);
  });
}

test('CIDRs', (t) => {
  t.true(inCidr('127.0.0.1', '127.0.0.0/8'));
  t.false(inCidr('128.0.0.1', '127.0.0.0/8'));
  t.true(inCidr('10.213.0.1', '10.213.0.1/32'));
  t.true(inCidr('1.2.3.4', '0.0.0.0/0'));
  t.false(inCidr('1.2.3', '0.0.0.0/0'));
  t.false(inCidr('1.2.3.4', 'x/8'));
});

const routes = [
  ['GET', '/v2/', { kind: 'ping' }],
  ['HEAD', '/v2/allume/app/blobs/sha256:abc', { kind: 'forward' }],
  ['POST', '/v2/allume/app/blobs/uploads/', { kind: 'forward' }],
  ['PATCH', '/v2/allume/app/blobs/uploads/0a1b?_state=xyz', { kind: 'forward' }],
  ['PUT', '/v2/allume/app/blobs/uploads/0a1b?_state=xyz&digest=sha256%3Aabc', { kind: 'forward' }],
  ['PUT', '/v2/allume/app/manifests/pipeline-upload', { kind: 'manifest', reference: 'pipeline-upload' }],
  ['PUT', `/v2/allume/app/manifests/sha256:${'a'.repeat(64)}`, { kind: 'forward' }],
  ['GET', '/v2/allume/app/manifests/develop', { kind: 'forward' }],
  ['PUT', '/v2/other/app/manifests/develop', { kind: 'refuse', reason: 'not repository allume/app' }],
  ['GET', '/v2/allume/app/tags/list', { kind: 'refuse', reason: 'unexpected GET /v2/allume/app/tags/list' }],
  ['DELETE', '/v2/allume/app-other/blobs/sha256:abc', { kind: 'refuse', reason: 'not repository allume/app' }],
];

for (const [method, url, want] of routes) {
  test(`proxy route: ${method} ${url}`, (t) => {
    t.deepEqual(proxyRoute(method, url, 'allume/app'), want);
  });
}

test('digests, manifests, locations and the proxy port', (t) => {
  t.true(isDigest(`sha256:${'0'.repeat(64)}`));
  t.false(isDigest('develop'));
  t.false(isDigest('sha256:short'));
  t.is(manifestDigest(Buffer.from('{}')), 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  t.is(localLocation('http://10.213.0.1:5000/v2/a/blobs/uploads/1?_state=x', 'http://10.213.0.1:5000'), '/v2/a/blobs/uploads/1?_state=x');
  t.is(localLocation('/v2/a/blobs/uploads/1', 'http://10.213.0.1:5000'), '/v2/a/blobs/uploads/1');
  t.is(proxyPort('http://10.213.0.1:5000'), proxyPort('http://10.213.0.1:5000'), 'the same port every run');
  t.true(proxyPort('https://registry.example.com') >= 40_000 && proxyPort('https://registry.example.com') < 60_000);
});
