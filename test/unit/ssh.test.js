// The pure SSH rules of src/core/ssh.ts; test/integration/ssh.test.js runs the connection itself.
import test from 'ava';
import {
  describeConnectError,
  describeHostKeyProblem,
  describeKeyProblem,
  exitStatus,
  hostKeyAlgorithms,
  inSeconds,
} from '../../dist/core/ssh.js';

// ---------------------------------------------------------------- hostKeyAlgorithms

const ED = 'ssh-ed25519';
const P256 = 'ecdsa-sha2-nistp256';
const P384 = 'ecdsa-sha2-nistp384';
const P521 = 'ecdsa-sha2-nistp521';
const RSA = ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

const algorithms = [
  ['no key known keeps the default order', [], undefined],
  ['only types ssh2 does not offer keep the default order', ['ssh-dss'], undefined],
  ['a known ed25519 key is already first', [ED], [ED, P256, P384, P521, ...RSA]],
  ['a known ecdsa key goes first', [P384], [P384, ED, P256, P521, ...RSA]],
  ['an ssh-rsa key brings every RSA signature first', ['ssh-rsa'], [...RSA, ED, P256, P384, P521]],
  ['several known types keep ssh2 order among them', [P521, ED], [ED, P521, P256, P384, ...RSA]],
  ['unknown types next to known ones are ignored', ['ssh-dss', P256], [P256, ED, P384, P521, ...RSA]],
];
for (const [name, types, expected] of algorithms) {
  test(`hostKeyAlgorithms: ${name}`, (t) => {
    t.deepEqual(hostKeyAlgorithms(types), expected);
  });
}

// ---------------------------------------------------------------- describeHostKeyProblem

const hostKeyProblems = [
  ['h1', 22, 'unknown', "host key not in /kh; after checking the host's key fingerprint, add it with: ssh-keyscan h1 >> /kh"],
  ['h1', 2222, 'unknown', "host key not in /kh; after checking the host's key fingerprint, add it with: ssh-keyscan -p 2222 h1 >> /kh"],
  ['h1', 22, 'mismatch', 'host key does not match /kh (possible man-in-the-middle attack); refusing to connect'],
  ['h1', 22, 'revoked', 'host key is marked @revoked in /kh (possible man-in-the-middle attack); refusing to connect'],
];
for (const [host, port, verdict, expected] of hostKeyProblems) {
  test(`describeHostKeyProblem: ${verdict} on port ${port}`, (t) => {
    t.is(describeHostKeyProblem(host, port, '/kh', verdict), expected);
  });
}

// ---------------------------------------------------------------- describeKeyProblem

const keyProblems = [
  [
    'encrypted key, no passphrase',
    'Encrypted private OpenSSH key detected, but no passphrase given',
    false,
    'SSH private key /k is encrypted and no passphrase was given',
  ],
  ['wrong passphrase', 'Bad passphrase', true, 'cannot decrypt SSH private key /k: wrong passphrase'],
  ['passphrase error without a passphrase given', 'Bad passphrase', false, 'SSH private key /k cannot be used: Bad passphrase'],
  ['not a key', 'Unsupported key format', false, 'SSH private key /k cannot be used: Unsupported key format'],
  ['not a key, with a passphrase', 'Unsupported key format', true, 'SSH private key /k cannot be used: Unsupported key format'],
];
for (const [name, message, hadPassphrase, expected] of keyProblems) {
  test(`describeKeyProblem: ${name}`, (t) => {
    t.is(describeKeyProblem('/k', new Error(message), hadPassphrase), expected);
  });
}

// ---------------------------------------------------------------- describeConnectError

function connectError(message, fields) {
  return Object.assign(new Error(message), fields);
}

const connectErrors = [
  ['authentication', { level: 'client-authentication' }, 'authentication failed for user deploy (key /id)'],
  ['handshake timeout', { level: 'client-timeout' }, 'timed out after 1.5s connecting on port 2222'],
  ['refused', { code: 'ECONNREFUSED' }, 'connection refused on port 2222'],
  ['unknown name', { code: 'ENOTFOUND' }, 'cannot resolve host name'],
  ['DNS failure', { code: 'EAI_AGAIN' }, 'cannot resolve host name (temporary DNS failure)'],
  ['host unreachable', { code: 'EHOSTUNREACH' }, 'host unreachable (EHOSTUNREACH)'],
  ['network unreachable', { code: 'ENETUNREACH' }, 'host unreachable (ENETUNREACH)'],
  ['reset', { code: 'ECONNRESET' }, 'connection reset during SSH handshake on port 2222'],
  ['anything else', { code: 'EPROTO' }, 'cannot connect on port 2222: boom'],
  ['no code at all', {}, 'cannot connect on port 2222: boom'],
];
for (const [name, fields, expected] of connectErrors) {
  test(`describeConnectError: ${name}`, (t) => {
    t.is(describeConnectError({ user: 'deploy', port: 2222 }, 1500, 'key /id', connectError('boom', fields)), expected);
  });
}

// ---------------------------------------------------------------- exitStatus

const statuses = [
  ['exit 0', 0, undefined, 0],
  ['exit 3', 3, undefined, 3],
  ['a code wins over a signal', 2, 'KILL', 2],
  ['killed by KILL', null, 'KILL', 137],
  ['signal named with SIG', undefined, 'SIGTERM', 143],
  ['a signal this system does not know', null, 'NOPE', 128],
  ['no code and no signal', null, undefined, undefined],
];
for (const [name, code, signal, expected] of statuses) {
  test(`exitStatus: ${name}`, (t) => {
    t.is(exitStatus(code, signal), expected);
  });
}

// ---------------------------------------------------------------- inSeconds

const durations = [
  [15_000, '15'],
  [1_500, '1.5'],
  [1_549, '1.5'],
  [1_550, '1.6'],
  [250, '0.3'],
  [0, '0'],
];
for (const [ms, expected] of durations) {
  test(`inSeconds(${ms}) is ${expected}`, (t) => {
    t.is(inSeconds(ms), expected);
  });
}
