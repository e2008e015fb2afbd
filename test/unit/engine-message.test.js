import test from 'ava';
import { engineMessage } from '../../dist/adapters/docker.js';

const cases = [
  ['dockerode prefix removed', { message: '(HTTP code 409) conflict - name in use ' }, 'name in use'],
  ['the JSON message preferred', { message: 'x', json: { message: 'port is already allocated' } }, 'port is already allocated'],
  ['said twice, said once', { json: { message: 'no such image: nope:x: No such image: nope:x' } }, 'no such image: nope:x'],
  [
    'two different halves kept',
    { json: { message: 'pull access denied: repository does not exist' } },
    'pull access denied: repository does not exist',
  ],
  ['a plain error', new Error('socket hang up'), 'socket hang up'],
];

for (const [name, error, expected] of cases) test(name, (t) => t.is(engineMessage(error), expected));
