import test from 'ava';
import { escapeXml, junitReport, testResultSuites } from '../../dist/report/junit.js';
import { findAll, parseXml } from '../helpers/xml.js';

const stage = (name, status, durationMs, message) => ({
  stage: name,
  status,
  startedAt: '2024-05-01T10:00:00.000Z',
  durationMs,
  ...(message ? { message } : {}),
});
const cases = (root) => findAll(root, 'testcase').map((testcase) => testcase.attributes.name);

for (const [text, escaped] of [
  ['plain', 'plain'],
  ['a < b && c > d', 'a &lt; b &amp;&amp; c &gt; d'],
  [`"quoted" 'single'`, '&quot;quoted&quot; &apos;single&apos;'],
  ['\x1b[31mred\x1b[39m text', 'red text'],
  ['bell\x07 and nul\x00 gone, tab\tnewline\n kept', 'bell and nul gone, tab\tnewline\n kept'],
  ['lone \uD800 surrogate, pair 😀 kept', 'lone  surrogate, pair 😀 kept'],
]) {
  test(`escapeXml(${JSON.stringify(text)})`, (t) => {
    t.is(escapeXml(text), escaped);
  });
}

test('junitReport: one test case per stage, counts and times on the suite', (t) => {
  const xml = junitReport({
    suite: 'pipeline app',
    stages: [
      stage('checkout', 'success', 250),
      stage('build', 'success', 12_000),
      stage('test', 'failure', 4_500, 'tests failed: npm test exited with code 1'),
    ],
  });
  t.true(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n'));
  const root = parseXml(xml);
  t.is(root.name, 'testsuites');
  const [suite] = findAll(root, 'testsuite');
  t.deepEqual(suite.attributes, {
    name: 'pipeline app',
    tests: '3',
    failures: '1',
    errors: '0',
    skipped: '0',
    time: '16.750',
    timestamp: '2024-05-01T10:00:00.000Z',
  });
  t.deepEqual(cases(root), ['checkout', 'build', 'test']);
  t.deepEqual(
    findAll(root, 'testcase').map((testcase) => testcase.attributes.time),
    ['0.250', '12.000', '4.500'],
  );
  const [failure] = findAll(root, 'failure');
  t.is(failure.attributes.message, 'tests failed: npm test exited with code 1');
  t.is(failure.text, 'tests failed: npm test exited with code 1');
});

test('junitReport: a skipped stage has a skipped element with the reason', (t) => {
  const root = parseXml(junitReport({ suite: 's', stages: [stage('push', 'skipped', 0, 'no registry configured')] }));
  t.deepEqual(
    findAll(root, 'skipped').map((skipped) => skipped.attributes.message),
    ['no registry configured'],
  );
  t.is(findAll(root, 'testsuite')[0].attributes.skipped, '1');
  t.deepEqual(findAll(root, 'failure'), []);
});

test('junitReport: messages with markup, quotes and terminal colours stay well-formed', (t) => {
  const message = 'deploy failed on 1 host(s): deploy@h1: <web> "unhealthy" & \x1b[31mgone\x1b[39m\nsecond line';
  const root = parseXml(junitReport({ suite: 'a "quoted" <suite>', stages: [stage('deploy', 'failure', 1, message)] }));
  const [failure] = findAll(root, 'failure');
  t.is(failure.attributes.message, 'deploy failed on 1 host(s): deploy@h1: <web> "unhealthy" & gone', 'the attribute holds the first line');
  t.is(failure.text, 'deploy failed on 1 host(s): deploy@h1: <web> "unhealthy" & gone\nsecond line');
  t.is(root.attributes.name, 'a "quoted" <suite>');
});

test('junitReport: no stages is still a valid, empty report', (t) => {
  const root = parseXml(junitReport({ suite: 's', stages: [] }));
  t.is(findAll(root, 'testsuite')[0].attributes.tests, '0');
  t.deepEqual(cases(root), []);
});

test('junitReport: test suites from the test command follow the stages', (t) => {
  const testSuites = testResultSuites('<testsuite name="app" tests="1"><testcase name="works"/></testsuite>', 'app tests');
  const root = parseXml(junitReport({ suite: 'pipeline app', stages: [stage('test', 'success', 10)], testSuites }));
  t.deepEqual(
    findAll(root, 'testsuite').map((suite) => suite.attributes.name),
    ['pipeline app', 'app'],
  );
  t.deepEqual(cases(root), ['test', 'works']);
});

// What `node --test --test-reporter=junit` writes: top-level tests straight under <testsuites>, describe blocks as suites.
const NODE_JUNIT = `<?xml version="1.0" encoding="utf-8"?>
<testsuites>
\t<testcase name="adds" time="0.001" classname="test"/>
\t<testcase name="fails" time="0.002" classname="test">
\t\t<failure type="testCodeFailure" message="broken on purpose">
Error [ERR_TEST_FAILURE]: broken on purpose
\t\t</failure>
\t</testcase>
\t<testsuite name="server" time="0.1" disabled="0" errors="0" tests="1" failures="0" skipped="0" hostname="h">
\t\t<testcase name="GET /health" time="0.05" classname="test"/>
\t</testsuite>
\t<!-- tests 3 -->
\t<!-- fail 1 -->
</testsuites>
`;

const suitesCases = [
  {
    title: 'node --test output: loose test cases are gathered into a suite of the given name, suites kept',
    xml: NODE_JUNIT,
    suites: [
      { name: 'app tests', tests: '2', failures: '1', cases: ['adds', 'fails'] },
      { name: 'server', cases: ['GET /health'] },
    ],
  },
  {
    title: 'a single <testsuite> root is kept as it is',
    xml: '<?xml version="1.0"?>\n<testsuite name="jest" tests="1"><testcase name="renders"><system-out><![CDATA[<b>not a tag</b>]]></system-out></testcase></testsuite>',
    suites: [{ name: 'jest', cases: ['renders'] }],
  },
  {
    title: 'attribute values may hold ">" and "/>"',
    xml: '<testsuites><testsuite name="a > b"><testcase name="x /> y"/></testsuite></testsuites>',
    suites: [{ name: 'a > b', cases: ['x /> y'] }],
  },
  { title: 'an empty <testsuites> has no suites', xml: '<testsuites/>', suites: [] },
  { title: 'not XML', xml: 'TAP version 13\nok 1 - adds\n', suites: undefined },
  { title: 'another XML document', xml: '<html><body/></html>', suites: undefined },
  { title: 'tags that do not nest', xml: '<testsuites><testsuite name="a"></testsuites>', suites: undefined },
  { title: 'two roots', xml: '<testsuite name="a"/><testsuite name="b"/>', suites: undefined },
];

for (const { title, xml, suites } of suitesCases) {
  test(`testResultSuites: ${title}`, (t) => {
    const result = testResultSuites(xml, 'app tests');
    if (suites === undefined) {
      t.is(result, undefined);
      return;
    }
    const parsed = result.map((element) => parseXml(element));
    t.deepEqual(
      parsed.map((suite) => suite.name),
      suites.map(() => 'testsuite'),
    );
    t.deepEqual(
      parsed.map((suite) => cases(suite)),
      suites.map((suite) => suite.cases),
    );
    suites.forEach((expected, index) => {
      for (const attribute of ['name', 'tests', 'failures']) {
        if (expected[attribute] !== undefined)
          t.is(parsed[index].attributes[attribute], expected[attribute], `${attribute} of suite ${index}`);
      }
    });
  });
}
