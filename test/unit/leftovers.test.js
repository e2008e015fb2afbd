// What a deploy killed mid-switch leaves on a host, recognised from its pending record and the containers' labels.
import test from 'ava';
import { validateConfig } from '../../dist/config/schema.js';
import { describeChange, planChanges } from '../../dist/core/changes.js';
import { allLeftovers, parsePending, pendingRecord, recogniseService } from '../../dist/core/leftovers.js';
import { planDeploy } from '../../dist/core/plan.js';
import { documentedConfig } from '../fixtures/configs.js';

/** Deploy K (killed) was replacing container X (develop, verified) of web with its container U. */
const pending = {
  id: 'K',
  environment: 'qa',
  tag: 'feature-x',
  deployedBy: 'ci@runner-1',
  startedAt: '2030-01-01T12:00:00.000Z',
  unverified: ['K'],
  previous: { web: { id: 'X', running: true }, logstash: { id: 'L', running: true } },
};
const X = { id: 'X', service: 'web', name: 'shop-web_X', running: false, deploy: 'D0' };
const U = { id: 'U', service: 'web', name: 'shop-web', running: true, deploy: 'K' };
const older = { id: 'O', service: 'web', name: 'shop-web_O', running: false, deploy: 'D-1' };
const fabric = { id: 'F', service: 'web', name: 'shop-web', running: true }; // no deploy label: not made by a deploy
const at = (c, name) => ({ ...c, name });

const cases = [
  // [name, named (the container at the service's name), containers, pending, expected]
  [
    'no record: the named container runs, nothing is left over',
    { id: 'X', running: true },
    [at(X, 'shop-web'), older],
    undefined,
    { current: { id: 'X', running: true }, renamedAside: false, leftovers: [] },
  ],
  ['no record, nothing deployed', undefined, [], undefined, { renamedAside: false, leftovers: [] }],
  [
    'killed once its container ran: that one is a leftover, the one it set aside runs',
    { id: 'U', running: true },
    [U, X, older],
    pending,
    { current: { id: 'X', running: true }, renamedAside: true, leftovers: [U] },
  ],
  [
    'killed after creating its container, before starting it',
    { id: 'U', running: false },
    [{ ...U, running: false }, X],
    pending,
    { current: { id: 'X', running: true }, renamedAside: true, leftovers: [{ ...U, running: false }] },
  ],
  [
    'killed after renaming the previous one aside, before creating its own',
    undefined,
    [X, older],
    pending,
    { current: { id: 'X', running: true }, renamedAside: true, leftovers: [] },
  ],
  [
    'killed before touching the service (its stop may have gone through): as it ran before',
    { id: 'X', running: false },
    [at(X, 'shop-web')],
    pending,
    { current: { id: 'X', running: true }, renamedAside: false, leftovers: [] },
  ],
  [
    'killed while undoing: the previous one is back at its name, the leftover set aside',
    { id: 'X', running: false },
    [at(X, 'shop-web'), at(U, 'shop-web_U')],
    pending,
    { current: { id: 'X', running: true }, renamedAside: false, leftovers: [at(U, 'shop-web_U')] },
  ],
  [
    'the previous one is gone: nothing runs, the leftover goes',
    { id: 'U', running: true },
    [U],
    pending,
    { renamedAside: false, leftovers: [U] },
  ],
  [
    'a container without a deploy label at the name is never a leftover',
    { id: 'F', running: true },
    [fabric],
    pending,
    { current: { id: 'F', running: true }, renamedAside: false, leftovers: [] },
  ],
  [
    'two deploys killed in a row: both left containers',
    { id: 'U2', running: true },
    [{ ...U, id: 'U2', deploy: 'K2' }, at(U, 'shop-web_U'), X],
    { ...pending, id: 'K2', unverified: ['K', 'K2'] },
    { current: { id: 'X', running: true }, renamedAside: true, leftovers: [{ ...U, id: 'U2', deploy: 'K2' }, at(U, 'shop-web_U')] },
  ],
];

for (const [name, named, containers, record, expected] of cases) {
  test(`recogniseService: ${name}`, (t) => {
    t.deepEqual(recogniseService('web', named, containers, record), expected);
  });
}

test("recogniseService looks only at the service's own containers", (t) => {
  const worker = { id: 'W', service: 'worker', name: 'shop-worker', running: true, deploy: 'K' };
  t.deepEqual(recogniseService('web', undefined, [worker, X], pending).leftovers, []);
  t.deepEqual(allLeftovers([worker, X, U, older], pending), [worker, U]);
  t.deepEqual(allLeftovers([worker, X, U], undefined), []);
});

test('the record a deploy writes names it after the deploys it cleans up after, and what it found running', (t) => {
  const deploy = { id: 'N', environment: 'qa', tag: 'develop', deployedBy: 'me@laptop', startedAt: '2030-01-01T12:01:00.000Z' };
  const running = new Map([
    ['web', { id: 'X', running: true }],
    ['logstash', { id: 'L', running: true }],
  ]);
  t.deepEqual(pendingRecord(deploy, undefined, running), {
    ...deploy,
    unverified: ['N'],
    previous: { web: { id: 'X', running: true }, logstash: { id: 'L', running: true } },
  });
  t.deepEqual(pendingRecord(deploy, pending, running).unverified, ['K', 'N']);
  t.deepEqual(pendingRecord(deploy, { ...pending, unverified: ['K', 'N'] }, running).unverified, ['K', 'N'], 'each deploy once');
});

test('a pending record as read from a host; anything unreadable is no record', (t) => {
  t.deepEqual(parsePending(JSON.stringify(pending)), pending);
  for (const text of [
    '',
    'garbage',
    'null',
    '{"id":"K"}',
    '{"id":"K","unverified":[1],"previous":{}}',
    '{"id":"K","unverified":[],"previous":null}',
  ]) {
    t.is(parsePending(text), undefined, text);
  }
});

const config = validateConfig(documentedConfig());
const [webHost] = planDeploy(config, 'qa').hosts;

test('the change planner counts the leftovers it removes, and pipeline plan says so', (t) => {
  const observed = new Map([['web', { running: true, image: 'registry.example.com/allume/shopping-tool:develop', tag: 'develop' }]]);
  const changes = planChanges(webHost.services, observed, new Map([['web', 1]]));
  t.deepEqual(
    changes.map((c) => [c.service, c.action, c.leftovers]),
    [
      ['web', 'replace', 1],
      ['logstash', 'start', undefined],
    ],
  );
  t.is(
    describeChange(changes[0], true, 'featurex'),
    'replace develop → featurex; removes 1 unverified container(s) of an interrupted deploy',
  );
  t.deepEqual(
    planChanges(webHost.services, observed).map((c) => c.leftovers),
    [undefined, undefined],
    'none without leftovers',
  );
});
