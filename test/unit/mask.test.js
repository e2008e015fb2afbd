import test from 'ava';
import { createMasker, secretForms } from '../../dist/core/mask.js';

const secret = 'pa$$w0rd/with+chars';

test('masks the raw value, everywhere it appears', (t) => {
  const mask = createMasker([secret]);
  t.is(mask(`login ${secret} and again ${secret}.`), 'login *** and again ***.');
});

test('masks the URL-encoded form', (t) => {
  const mask = createMasker([secret]);
  t.is(mask(`https://ci:${encodeURIComponent(secret)}@registry`), 'https://ci:***@registry');
});

test('masks the base64 form inside longer base64 text, at every byte alignment', (t) => {
  const mask = createMasker([secret]);
  for (const prefix of ['', 'u', 'us', 'use', 'user:']) {
    const encoded = Buffer.from(`${prefix}${secret}:suffix`).toString('base64');
    const masked = mask(`auth ${encoded}`);
    t.true(masked.includes('***'), `prefix ${JSON.stringify(prefix)}: ${masked}`);
    for (const form of secretForms(secret).slice(2)) t.false(masked.includes(form));
  }
});

test('docker auth headers (base64 JSON) do not carry the password', (t) => {
  const mask = createMasker([secret]);
  const header = Buffer.from(JSON.stringify({ username: 'ci', password: secret, serveraddress: 'r:5000' })).toString('base64');
  t.notRegex(Buffer.from(mask(header).replace(/\*\*\*/g, ''), 'base64').toString('latin1'), /pa\$\$w0rd/);
});

test('empty and missing secrets mask nothing', (t) => {
  const mask = createMasker(['', undefined]);
  t.is(mask('nothing to hide'), 'nothing to hide');
});

test('longer secrets are masked before shorter ones they contain', (t) => {
  const mask = createMasker(['abc', 'abcdef']);
  t.is(mask('xabcdefx abc'), 'x***x ***');
});
