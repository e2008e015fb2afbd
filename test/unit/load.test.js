// Loading config files that cannot be read: each error is one line naming the file, line and column, and what is wrong.

import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { loadConfig } from '../../dist/config/load.js';
import { frameIn, jsonErrorOffset, lineAndColumn } from '../../dist/config/load-errors.js';

const root = await mkdtemp(join(tmpdir(), 'pipeline-load-'));
// TypeScript output is cached: a folder of this run's own, so no earlier run's cache answers.
process.env.XDG_CACHE_HOME = join(root, 'cache');
test.after.always(() => rm(root, { recursive: true, force: true }));

let folders = 0;
/** A fresh folder holding one config file. */
async function write(name, content) {
  const dir = join(root, `project-${++folders}`);
  await mkdir(dir);
  await writeFile(join(dir, name), content);
  return dir;
}

/** Writes a config into a fresh folder and loads it as `pipeline --config NAME` does there. */
async function load(name, content) {
  const dir = await write(name, content);
  return { dir, result: loadConfig({ cwd: dir, file: name }) };
}

const minimal = '{ project: "p", image: "r/p", services: { web: { roles: ["web"] } } }';

const failures = [
  // TypeScript: syntax errors come from the compiler's diagnostics, before anything runs.
  [
    'a TypeScript syntax error',
    'pipeline.config.ts',
    'export default {\n  project: "p"\n  image: "r/p",\n};\n',
    "syntax error in pipeline.config.ts:3:3: ',' expected",
  ],
  [
    'several TypeScript syntax errors, the first named',
    'pipeline.config.ts',
    'const a = ;\nconst b = ;\nexport default {};\n',
    'syntax error in pipeline.config.ts:1:11: Expression expected (and 1 more)',
  ],
  [
    'an unclosed TypeScript object',
    'pipeline.config.mts',
    `export default ${minimal.slice(0, -1)}\n`,
    /^syntax error in pipeline\.config\.mts:2:1: '}' expected$/,
  ],
  // A TypeScript config runs as generated JavaScript: the line is mapped back to the .ts file.
  [
    'a TypeScript config that throws',
    'pipeline.config.ts',
    'type Env = Record<string, string | undefined>;\nconst env: Env = {};\n\nexport default {\n  project: "p",\n  image: env.IMAGE!.split(":")[0],\n};\n',
    "configuration threw in pipeline.config.ts:6:21: TypeError: Cannot read properties of undefined (reading 'split')",
  ],
  [
    'a TypeScript config that throws in a function',
    'pipeline.config.ts',
    'function required(name: string): string {\n  throw new Error(`${name} is not set`);\n}\nexport default { project: required("PROJECT") };\n',
    'configuration threw in pipeline.config.ts:2:9: Error: PROJECT is not set',
  ],
  [
    'a TypeScript config importing a missing package',
    'pipeline.config.ts',
    'import { shared } from "no-such-package";\nexport default shared;\n',
    /^cannot load configuration: Cannot find package 'no-such-package' imported from .*\/pipeline\.config\.ts$/,
  ],
  // JavaScript: node does not say where an ES module's syntax error is; the TypeScript parser does.
  [
    'an ES module syntax error',
    'pipeline.config.mjs',
    'const image = "r/p";\nexport default { project: "p" image };\n',
    "syntax error in pipeline.config.mjs:2:31: ',' expected",
  ],
  [
    'a CommonJS syntax error',
    'pipeline.config.cjs',
    'module.exports = {\n  project: "p",\n  image: "r/p"\n  services: {},\n};\n',
    "syntax error in pipeline.config.cjs:4:3: ',' expected",
  ],
  [
    'a syntax error only node finds',
    'pipeline.config.js',
    'let a = 1;\nlet a = 2;\nexport default {};\n',
    "syntax error in pipeline.config.js: Identifier 'a' has already been declared (in this file or a module it imports)",
  ],
  [
    'a JavaScript config that throws',
    'pipeline.config.mjs',
    'const image = process.env.NO_SUCH_VARIABLE_SET;\n\nexport default { project: "p", image: image.toLowerCase() };\n',
    "configuration threw in pipeline.config.mjs:3:45: TypeError: Cannot read properties of undefined (reading 'toLowerCase')",
  ],
  [
    'a CommonJS config that throws',
    'pipeline.config.cjs',
    'module.exports = {\n  project: JSON.parse("{"),\n};\n',
    /^configuration threw in pipeline\.config\.cjs:2:17: SyntaxError: /,
  ],
  [
    'a config that throws something not an Error',
    'pipeline.config.mjs',
    'throw "no registry";\n',
    'configuration threw in pipeline.config.mjs: no registry',
  ],
  // JSON and YAML.
  [
    'a JSON syntax error',
    'pipeline.config.json',
    '{\n  "project": "p",,\n  "image": "r/p"\n}\n',
    'syntax error in pipeline.config.json:2:18: Expected double-quoted property name',
  ],
  [
    'a trailing comma in a JSON array',
    'pipeline.config.json',
    '{\n  "services": { "web": { "roles": ["web",] } }\n}\n',
    "syntax error in pipeline.config.json:2:42: Unexpected token ']'",
  ],
  [
    'a JSON file cut short',
    'pipeline.config.json',
    '{\n  "project": "p"\n',
    "syntax error in pipeline.config.json:3:1: Expected ',' or '}' after property value",
  ],
  [
    'a bad literal in package.json',
    'package.json',
    '{\n  "name": "app",\n  "pipeline": { "project": tru }\n}\n',
    "syntax error in package.json:3:31: Unexpected token ' '",
  ],
  [
    'a YAML syntax error',
    'pipeline.config.yaml',
    'project: p\nimage: [r/p\nservices: {}\n',
    'syntax error in pipeline.config.yaml:3:1: missed comma between flow collection entries',
  ],
  [
    'a YAML file cut short',
    'pipeline.config.yaml',
    'project: p\nimage: [r/p\n',
    'syntax error in pipeline.config.yaml:3:1: unexpected end of the stream within a flow collection',
  ],
  [
    'a YAML key given twice',
    'pipeline.config.yml',
    'project: p\nimage: r/p\nproject: q\n',
    'syntax error in pipeline.config.yml:3:1: duplicated mapping key',
  ],
  ['a YAML tab indent', 'pipeline.config.yaml', 'project: p\nservices:\n\tweb: {}\n', /^syntax error in pipeline\.config\.yaml:3:1: /],
];

for (const [what, file, content, expected] of failures) {
  test(`${what}: one line naming file, line and column`, async (t) => {
    const { dir, result } = await load(file, content);
    const error = await t.throwsAsync(result);
    t.is(error.name, 'ConfigError');
    if (typeof expected === 'string') t.is(error.message, expected);
    else t.regex(error.message, expected);
    t.false(error.message.includes('\n'), 'one line');
    t.false(/\.[0-9a-f]{16}\.\d+\.mjs/.test(error.message), 'the generated module is never named');
    t.deepEqual(await readdir(dir), [file], 'no generated file left beside the config');
  });
}

test('a TypeScript config that throws names its line also when its JavaScript comes from the cache', async (t) => {
  const content = `const missing: string[] | undefined = undefined;\nexport default { project: missing![0] };\n`;
  for (const attempt of ['first', 'cached']) {
    const error = await t.throwsAsync((await load('pipeline.config.ts', content)).result);
    t.regex(error.message, /^configuration threw in pipeline\.config\.ts:2:35: TypeError: /, attempt);
  }
});

test('a config found above --cwd is named by its path', async (t) => {
  const dir = await write('pipeline.config.json', '{ "project": }');
  const sub = join(dir, 'src');
  await mkdir(sub);
  const error = await t.throwsAsync(loadConfig({ cwd: sub }));
  t.is(error.message, `syntax error in ${join(dir, 'pipeline.config.json')}:1:14: Unexpected token '}'`);
});

test('a valid config in each format still loads', async (t) => {
  const files = [
    ['pipeline.config.ts', `const project: string = "p";\nexport default { ...${minimal}, project };\n`],
    ['pipeline.config.mjs', `export default ${minimal};\n`],
    ['pipeline.config.cjs', `module.exports = ${minimal};\n`],
    ['pipeline.config.json', JSON.stringify({ project: 'p', image: 'r/p', services: { web: { roles: ['web'] } } })],
    ['pipeline.config.yaml', 'project: p\nimage: r/p\nservices:\n  web:\n    roles: [web]\n'],
  ];
  for (const [file, content] of files) {
    const { config } = await (await load(file, content)).result;
    t.is(config.project, 'p', file);
  }
});

test('an invalid configuration still names its fields', async (t) => {
  const error = await t.throwsAsync(
    (
      await load(
        'pipeline.config.json',
        '{ "project": "p", "image": "r/p", "services": { "web": { "roles": ["web"], "ports": ["99999:80"] } } }',
      )
    ).result,
  );
  t.is(error.message, 'invalid configuration in pipeline.config.json: services.web.ports[0]: host port 99999 must be from 1 to 65535');
});

const offsets = [
  ['{}', null],
  ['{"a": 1}', null],
  ['', 0],
  ['{', 1],
  ['{"a": 1,}', 8],
  ['[1,]', 3],
  ['{"a": tru}', 9],
  ['{"a": nul }', 9],
  ['{"a" 1}', 5],
  ['{"a": "b\nc"}', 6],
  ['{"a": 01}', 7],
  ['{} x', 3],
  ['{"a": -}', 6],
  ['{"a": "\\x"}', 6],
  ['  [1, 2, {"b": [null, false, "\\u00e9"]}]  ', null],
];
for (const [text, offset] of offsets) {
  test(`jsonErrorOffset(${JSON.stringify(text)}) is ${offset ?? 'its length (valid JSON)'}`, (t) => {
    t.is(jsonErrorOffset(text), offset ?? text.length);
  });
}

test('lineAndColumn counts from 1', (t) => {
  t.deepEqual(lineAndColumn('ab\ncd\n', 0), { line: 1, column: 1 });
  t.deepEqual(lineAndColumn('ab\ncd\n', 4), { line: 2, column: 2 });
  t.deepEqual(lineAndColumn('ab\ncd\n', 6), { line: 3, column: 1 });
});

test('frameIn finds the first frame in a file, by path or URL, and no other file', (t) => {
  const stack = [
    'TypeError: x',
    '    at helper (file:///app/node_modules/lib/pipeline.config.ts:9:9)',
    '    at required (file:///app/pipeline.config.ts:3:11)',
    '    at file:///app/pipeline.config.ts:7:5',
    '    at Object.<anonymous> (/app/other.cjs:2:1)',
  ].join('\n');
  t.deepEqual(frameIn(stack, ['/app/pipeline.config.ts']), { line: 3, column: 11 });
  t.deepEqual(frameIn(stack, ['/app/other.cjs']), { line: 2, column: 1 });
  t.is(frameIn(stack, ['/app/pipeline.config.mjs']), undefined);
  t.is(frameIn(stack, ['/lib/pipeline.config.ts']), undefined, 'a path is matched whole');
});
