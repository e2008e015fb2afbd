import type { StageResult } from '../runner/context.js';

// Characters XML 1.0 does not allow at all (test output carries terminal escapes and other control bytes).
const INVALID_XML_CHARS =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters it removes.
  /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: a terminal escape starts with ESC.
const ANSI_ESCAPE = /\x1B\[[0-9;?]*[A-Za-z]/g;
const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text safe inside an XML attribute or element: escaped, colour codes and forbidden characters removed. */
export function escapeXml(text: string): string {
  return text
    .replace(ANSI_ESCAPE, '')
    .replace(INVALID_XML_CHARS, '')
    .replace(/[&<>"']/g, (char) => XML_ENTITIES[char]!);
}

function attributes(values: Record<string, string | number>): string {
  return Object.entries(values)
    .map(([name, value]) => ` ${name}="${escapeXml(String(value))}"`)
    .join('');
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function stageCase(stage: StageResult, classname: string): string {
  const open = `    <testcase${attributes({ classname, name: stage.stage, time: seconds(stage.durationMs) })}`;
  const message = stage.message ?? '';
  if (stage.status === 'success') return `${open}/>`;
  const body =
    stage.status === 'failure'
      ? `<failure${attributes({ message: message.split('\n')[0]!, type: 'StageFailure' })}>${escapeXml(message)}</failure>`
      : `<skipped${attributes({ message })}/>`;
  return `${open}>\n      ${body}\n    </testcase>`;
}

export interface JunitInput {
  /** The test suite's name, e.g. "pipeline shopping-tool". */
  suite: string;
  stages: readonly StageResult[];
  /** Further `<testsuite>` elements to include as they are, e.g. from testResultSuites. */
  testSuites?: readonly string[];
}

/** JUnit XML for CI test-result views (CircleCI's store_test_results): one test case per stage that ran or was skipped. */
export function junitReport(input: JunitInput): string {
  const { stages } = input;
  const count = (status: StageResult['status']) => stages.filter((stage) => stage.status === status).length;
  const suite = attributes({
    name: input.suite,
    tests: stages.length,
    failures: count('failure'),
    errors: 0,
    skipped: count('skipped'),
    time: seconds(stages.reduce((total, stage) => total + stage.durationMs, 0)),
    ...(stages[0] ? { timestamp: stages[0].startedAt } : {}),
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attributes({ name: input.suite })}>`,
    `  <testsuite${suite}>`,
    ...stages.map((stage) => stageCase(stage, input.suite)),
    '  </testsuite>',
    ...(input.testSuites ?? []).map((element) => `  ${element}`),
    '</testsuites>',
    '',
  ].join('\n');
}

// Markup that opens or closes nothing (declarations, comments, CDATA) and tags, whose quoted attribute values may hold '>'.
const XML_TOKEN =
  /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<\?[\s\S]*?\?>|<![^>]*>|<\/([A-Za-z_][\w.:-]*)\s*>|<([A-Za-z_][\w.:-]*)(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(\/?)>/g;

interface XmlElement {
  name: string;
  start: number;
  end: number;
  children: XmlElement[];
}

/** The element tree of a document, with each element's offsets; undefined when its tags do not nest. */
function topElements(xml: string): XmlElement[] | undefined {
  const roots: XmlElement[] = [];
  const open: XmlElement[] = [];
  for (const match of xml.matchAll(XML_TOKEN)) {
    const [token, closing, opening, selfClosing] = match;
    const start = match.index;
    if (opening !== undefined) {
      const element = { name: opening, start, end: start + token.length, children: [] };
      (open.at(-1)?.children ?? roots).push(element);
      if (!selfClosing) open.push(element);
    } else if (closing !== undefined) {
      const element = open.pop();
      if (element?.name !== closing) return undefined;
      element.end = start + token.length;
    }
  }
  return open.length === 0 ? roots : undefined;
}

/**
 * The `<testsuite>` elements of a JUnit XML document a test command wrote, to
 * merge into the pipeline's report. The root may be `<testsuites>` or one
 * `<testsuite>`; test cases directly under `<testsuites>` (node --test
 * writes top-level tests so) are put into a suite called `name`. Undefined
 * when the text is not JUnit XML.
 */
export function testResultSuites(xml: string, name: string): string[] | undefined {
  const roots = topElements(xml);
  if (roots?.length !== 1) return undefined;
  const [root] = roots as [XmlElement];
  const text = (element: XmlElement) => xml.slice(element.start, element.end);
  if (root.name === 'testsuite') return [text(root)];
  if (root.name !== 'testsuites') return undefined;
  const suites = root.children.filter((child) => child.name === 'testsuite').map(text);
  const cases = root.children.filter((child) => child.name === 'testcase');
  const failures = cases.filter((testcase) => testcase.children.some((child) => child.name === 'failure' || child.name === 'error')).length;
  if (cases.length > 0)
    suites.unshift(`<testsuite${attributes({ name, tests: cases.length, failures })}>\n${cases.map(text).join('\n')}\n</testsuite>`);
  return suites;
}
