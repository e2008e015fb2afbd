import test from 'ava';
import { credentialsFor, registryAccess } from '../../dist/core/registry.js';

const access = registryAccess({ server: 'registry:5000', username: 'ci', password: 's3cret' });

test('credentials go only with images on the configured registry', (t) => {
  const auth = { username: 'ci', password: 's3cret', serveraddress: 'registry:5000' };
  t.deepEqual(credentialsFor(access, 'registry:5000/allume/app:develop'), auth);
  t.deepEqual(credentialsFor(access, 'registry:5000/allume/app@sha256:abc'), auth);
  t.is(credentialsFor(access, 'docker.elastic.co/logstash/logstash:8.15.0'), undefined);
  t.is(credentialsFor(access, 'registry:5001/allume/app'), undefined);
  t.is(credentialsFor(access, 'node:24-slim'), undefined);
  t.is(credentialsFor(undefined, 'registry:5000/allume/app'), undefined);
});

test('without a password nothing is sent (no empty password), and no registry is no access', (t) => {
  const anonymous = registryAccess({ server: 'registry:5000', username: 'ci' });
  t.deepEqual(anonymous, { server: 'registry:5000' });
  t.is(credentialsFor(anonymous, 'registry:5000/allume/app'), undefined);
  t.is(registryAccess(undefined), undefined);
});
