import test from 'ava';
import { checkHostKey, knownHostKeyTypes, knownHostsName, parseKnownHosts, wildcardMatches } from '../../dist/core/known-hosts.js';

// Real keys from ssh-keygen; the hashed lines are `ssh-keygen -H` of the two plain lines.
const ED25519 = 'AAAAC3NzaC1lZDI1NTE5AAAAIO/zho6JWB2Chub1Ui+j7Wp+gbNwEk4uOfR3Etrljdh8';
const ECDSA =
  'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCX0XfxSwhfbORQUj4KbunYntMbcCuNwGyzHxSiMjySLzmt3pMRQ2u8Og4JCioGtjBoPlkORANjt0bOl5l88LFk=';
const HASHED_SERVER = `|1|v0vdxElXOCfquTkJ7xRiUMSDzzE=|MLDfQpBx2ZC8xdIZnCz9n0qVSsg= ssh-ed25519 ${ED25519}`;
const HASHED_SERVER_2222 = `|1|7RSSGfxLw1DHSWwiim9N3K+IQVs=|1tFn0fAUslf8mypxeMIYpZeDGDU= ecdsa-sha2-nistp256 ${ECDSA}`;

/** A well-formed SSH public key blob of `type`: uint32 length, type name, then `filler` bytes. */
function blob(type, filler) {
  const name = Buffer.from(type);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(name.length);
  return Buffer.concat([length, name, Buffer.from(filler)]);
}
const b64 = (buffer) => buffer.toString('base64');

const KEY_A = blob('ssh-ed25519', 'key-a-0123456789abcdef0123456789ab');
const KEY_B = blob('ssh-ed25519', 'key-b-0123456789abcdef0123456789ab');
const KEY_RSA = blob('ssh-rsa', 'rsa-key-0123456789');
const KEY_CA = blob('ssh-ed25519', 'ca-key-0123456789abcdef0123456789');
const REAL_ED25519 = Buffer.from(ED25519, 'base64');
const REAL_ECDSA = Buffer.from(ECDSA, 'base64');

// ---------------------------------------------------------------- parseKnownHosts

test('parseKnownHosts reads plain, marked and hashed entries and skips comments and blanks', (t) => {
  const text = [
    '# a comment',
    '',
    '   ',
    `web1.example.com,10.0.0.1 ssh-ed25519 ${b64(KEY_A)} deploy@laptop`,
    `[web2.example.com]:2222 ssh-rsa ${b64(KEY_RSA)}`,
    `@revoked * ssh-ed25519 ${b64(KEY_B)}`,
    `@cert-authority *.example.com ssh-ed25519 ${b64(KEY_CA)} our CA`,
    HASHED_SERVER,
    `\tindented.example.com ssh-ed25519 ${b64(KEY_A)}\r`,
  ].join('\n');
  const entries = parseKnownHosts(text);
  t.is(entries.length, 6);
  t.deepEqual(entries[0], { patterns: ['web1.example.com', '10.0.0.1'], keyType: 'ssh-ed25519', key: KEY_A });
  t.deepEqual(entries[1], { patterns: ['[web2.example.com]:2222'], keyType: 'ssh-rsa', key: KEY_RSA });
  t.deepEqual(entries[2], { marker: '@revoked', patterns: ['*'], keyType: 'ssh-ed25519', key: KEY_B });
  t.is(entries[3].marker, '@cert-authority');
  t.deepEqual(entries[4].patterns, []);
  t.is(entries[4].hashed.salt.toString('base64'), 'v0vdxElXOCfquTkJ7xRiUMSDzzE=');
  t.is(entries[4].hashed.hash.toString('base64'), 'MLDfQpBx2ZC8xdIZnCz9n0qVSsg=');
  t.deepEqual(entries[4].key, REAL_ED25519);
  t.deepEqual(entries[5].patterns, ['indented.example.com']);
});

const malformed = [
  ['host only', 'web1.example.com'],
  ['no key', 'web1.example.com ssh-ed25519'],
  ['key not base64', 'web1.example.com ssh-ed25519 not*base64!'],
  ['blob names another type', `web1.example.com ssh-rsa ${b64(KEY_A)}`],
  ['blob too short', `web1.example.com ssh-ed25519 ${b64(Buffer.from([0, 0, 0, 50, 1]))}`],
  ['unknown marker', `@trusted web1.example.com ssh-ed25519 ${b64(KEY_A)}`],
  ['marker only', '@revoked'],
  ['hash with bad salt length', `|1|AAAA|MLDfQpBx2ZC8xdIZnCz9n0qVSsg= ssh-ed25519 ${ED25519}`],
  ['hash with extra field', `|1|v0vdxElXOCfquTkJ7xRiUMSDzzE=|MLDfQpBx2ZC8xdIZnCz9n0qVSsg=|x ssh-ed25519 ${ED25519}`],
  ['SSH1 key line', 'web1.example.com 1024 35 1234567890'],
];
for (const [name, line] of malformed) {
  test(`parseKnownHosts skips a malformed line: ${name}`, (t) => {
    t.deepEqual(
      parseKnownHosts(`${line}\nok.example.com ssh-ed25519 ${b64(KEY_A)}\n`).map((e) => e.patterns),
      [['ok.example.com']],
    );
  });
}

// ---------------------------------------------------------------- checkHostKey

const verdicts = [
  // [description, known_hosts lines, host, port, presented key, verdict]
  ['exact key for the host', [`web1 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 22, KEY_A, 'match'],
  ['another key of the same type', [`web1 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 22, KEY_B, 'mismatch'],
  ['a key of another type', [`web1 ssh-rsa ${b64(KEY_RSA)}`], 'web1', 22, KEY_A, 'mismatch'],
  ['one of two known keys', [`web1 ssh-rsa ${b64(KEY_RSA)}`, `web1 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 22, KEY_A, 'match'],
  ['no entry for the host', [`web2 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 22, KEY_A, 'unknown'],
  ['empty file', [], 'web1', 22, KEY_A, 'unknown'],
  ['host name case differs', [`WEB1.Example.COM ssh-ed25519 ${b64(KEY_A)}`], 'web1.example.com', 22, KEY_A, 'match'],
  ['query case differs', [`web1.example.com ssh-ed25519 ${b64(KEY_A)}`], 'Web1.EXAMPLE.com', 22, KEY_A, 'match'],
  ['second of comma-separated patterns', [`10.0.0.1,web1 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 22, KEY_A, 'match'],
  ['non-standard port in brackets', [`[web1]:2222 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 2222, KEY_A, 'match'],
  ['port-22 entry does not cover port 2222', [`web1 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 2222, KEY_A, 'unknown'],
  ['[host]:22 is not how port 22 is written', [`[web1]:22 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 22, KEY_A, 'unknown'],
  ['other port entry does not cover this port', [`[web1]:2222 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 2223, KEY_A, 'unknown'],
  ['IPv4 with port', [`[10.213.0.11]:2299 ssh-ed25519 ${b64(KEY_A)}`], '10.213.0.11', 2299, KEY_A, 'match'],
  ['* wildcard', [`*.example.com ssh-ed25519 ${b64(KEY_A)}`], 'web1.example.com', 22, KEY_A, 'match'],
  ['* wildcard does not cross into another domain', [`*.example.com ssh-ed25519 ${b64(KEY_A)}`], 'web1.example.org', 22, KEY_A, 'unknown'],
  ['? wildcard', [`web? ssh-ed25519 ${b64(KEY_A)}`], 'web7', 22, KEY_A, 'match'],
  ['? matches exactly one character', [`web? ssh-ed25519 ${b64(KEY_A)}`], 'web10', 22, KEY_A, 'unknown'],
  ['wildcard inside brackets', [`[*.example.com]:2222 ssh-ed25519 ${b64(KEY_A)}`], 'web1.example.com', 2222, KEY_A, 'match'],
  ['negation excludes a host', [`!bad.example.com,*.example.com ssh-ed25519 ${b64(KEY_A)}`], 'bad.example.com', 22, KEY_A, 'unknown'],
  [
    'negation after the positive pattern still excludes',
    [`*.example.com,!bad.example.com ssh-ed25519 ${b64(KEY_A)}`],
    'bad.example.com',
    22,
    KEY_A,
    'unknown',
  ],
  ['negation leaves other hosts', [`!bad.example.com,*.example.com ssh-ed25519 ${b64(KEY_A)}`], 'good.example.com', 22, KEY_A, 'match'],
  ['negation alone matches nothing', [`!bad.example.com ssh-ed25519 ${b64(KEY_A)}`], 'good.example.com', 22, KEY_A, 'unknown'],
  ['hashed entry', [HASHED_SERVER], 'server.example.com', 22, REAL_ED25519, 'match'],
  ['hashed entry, query in upper case', [HASHED_SERVER], 'SERVER.example.com', 22, REAL_ED25519, 'match'],
  ['hashed entry, other key', [HASHED_SERVER], 'server.example.com', 22, KEY_A, 'mismatch'],
  ['hashed entry, other host', [HASHED_SERVER], 'other.example.com', 22, REAL_ED25519, 'unknown'],
  ['hashed entry with port', [HASHED_SERVER_2222], 'server.example.com', 2222, REAL_ECDSA, 'match'],
  ['hashed port entry does not cover port 22', [HASHED_SERVER_2222], 'server.example.com', 22, REAL_ECDSA, 'unknown'],
  ['revoked key', [`@revoked * ssh-ed25519 ${b64(KEY_A)}`, `web1 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 22, KEY_A, 'revoked'],
  ['revoked key without a plain entry', [`@revoked web1 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 22, KEY_A, 'revoked'],
  [
    'revocation for another host',
    [`@revoked web2 ssh-ed25519 ${b64(KEY_A)}`, `web1 ssh-ed25519 ${b64(KEY_A)}`],
    'web1',
    22,
    KEY_A,
    'match',
  ],
  ['another key revoked', [`@revoked * ssh-ed25519 ${b64(KEY_B)}`, `web1 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 22, KEY_A, 'match'],
  ['a revoked entry alone does not make the host known', [`@revoked * ssh-ed25519 ${b64(KEY_B)}`], 'web1', 22, KEY_A, 'unknown'],
  ['cert-authority is not a host key', [`@cert-authority * ssh-ed25519 ${b64(KEY_A)}`], 'web1', 22, KEY_A, 'unknown'],
  [
    'cert-authority beside a plain entry',
    [`@cert-authority * ssh-ed25519 ${b64(KEY_A)}`, `web1 ssh-ed25519 ${b64(KEY_B)}`],
    'web1',
    22,
    KEY_A,
    'mismatch',
  ],
  ['commented-out entry', [`# web1 ssh-ed25519 ${b64(KEY_A)}`], 'web1', 22, KEY_A, 'unknown'],
];
for (const [name, lines, host, port, key, verdict] of verdicts) {
  test(`checkHostKey: ${name} → ${verdict}`, (t) => {
    t.is(checkHostKey(parseKnownHosts(lines.join('\n')), host, port, key), verdict);
  });
}

test('knownHostKeyTypes lists plain entries for the host only, once each', (t) => {
  const entries = parseKnownHosts(
    [
      `web1 ssh-rsa ${b64(KEY_RSA)}`,
      `web1,web2 ssh-ed25519 ${b64(KEY_A)}`,
      `web1 ssh-ed25519 ${b64(KEY_B)}`,
      `@revoked web1 ssh-ed25519 ${b64(KEY_B)}`,
      `@cert-authority * ssh-ed25519 ${b64(KEY_CA)}`,
      HASHED_SERVER_2222,
    ].join('\n'),
  );
  t.deepEqual(knownHostKeyTypes(entries, 'web1', 22), ['ssh-rsa', 'ssh-ed25519']);
  t.deepEqual(knownHostKeyTypes(entries, 'web2', 22), ['ssh-ed25519']);
  t.deepEqual(knownHostKeyTypes(entries, 'web3', 22), []);
  t.deepEqual(knownHostKeyTypes(entries, 'server.example.com', 2222), ['ecdsa-sha2-nistp256']);
});

for (const [host, port, name] of [
  ['web1', 22, 'web1'],
  ['web1', 2222, '[web1]:2222'],
  ['10.0.0.1', 2299, '[10.0.0.1]:2299'],
]) {
  test(`knownHostsName(${host}, ${port}) is ${name}`, (t) => t.is(knownHostsName(host, port), name));
}

const globs = [
  ['*', '', true],
  ['*', 'anything', true],
  ['a*', 'a', true],
  ['a*c', 'abbbc', true],
  ['a*c', 'abbbd', false],
  ['*.*', 'a.b', true],
  ['*.example.com', '.example.com', true],
  ['a?c', 'abc', true],
  ['a?c', 'ac', false],
  ['*a*a*', 'banana', true],
  ['*ab', 'aab', true],
  ['[x]:2*', '[x]:22', true],
  ['abc', 'ab', false],
  ['ab', 'abc', false],
  ['', '', true],
  ['', 'a', false],
];
for (const [pattern, text, expected] of globs) {
  test(`wildcardMatches(${JSON.stringify(pattern)}, ${JSON.stringify(text)}) is ${expected}`, (t) => {
    t.is(wildcardMatches(pattern, text), expected);
  });
}
