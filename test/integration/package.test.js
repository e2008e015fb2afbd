// The package as users get it: packed from a tree with no dist (prepack builds it), installed from the
// tarball globally and into a project, with configs that import defineConfig by the package's name.
// Touches no host, registry or engine of the test world: it needs no world lock.

import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { ROOT } from '../helpers/paths.js';

const run = promisify(execFile);
const { name, version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
/** npm's own variables (set when the tests run under `npm test`) would steer the npm calls below. */
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
const npm = (args, cwd) => run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd, env: npmEnv, maxBuffer: 16 << 20 });

let tmp;
/** The installed CLI's environment: its compiled-config cache goes in the temporary folder too. */
let env;
let tarball;
let packedFiles;

test.before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pipeline-package-'));
  env = { ...npmEnv, XDG_CACHE_HOME: join(tmp, 'cache') };
  // A copy of the working tree without dist, as a fresh clone has it; its build leaves the repository's dist alone.
  const source = join(tmp, 'source');
  const skip = new Set(['.git', 'dist', 'node_modules'].map((entry) => join(ROOT, entry)));
  await cp(ROOT, source, { recursive: true, filter: (path) => !skip.has(path) });
  await symlink(join(ROOT, 'node_modules'), join(source, 'node_modules'));
  const { stdout } = await npm(['pack', '--json', '--pack-destination', tmp], source);
  const [packed] = JSON.parse(stdout);
  tarball = join(tmp, packed.filename);
  packedFiles = packed.files.map((file) => file.path);
});

test.after.always(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const CONFIG_BODY = `{
  project: 'packaged',
  image: 'registry.example.com/acme/packaged',
  build: { context: '.' },
  test: { command: ['true'] },
  environments: { qa: { on: { branches: ['develop'] }, hosts: { web: ['deploy@qa-web-1.example.com'] } } },
  services: { web: { roles: ['web'], ports: ['8080:8000'] } },
}`;

/** A config in each format that can import, each getting defineConfig from the package by name (.mts by its old name). */
const CONFIGS = {
  'pipeline.config.ts': `import { defineConfig, type PipelineConfig } from '${name}';\nconst config: PipelineConfig = ${CONFIG_BODY};\nexport default defineConfig(config);\n`,
  'pipeline.config.mts': `import { defineConfig } from 'pipeline';\nexport default defineConfig(${CONFIG_BODY});\n`,
  'pipeline.config.mjs': `import { defineConfig } from '${name}';\nexport default defineConfig(${CONFIG_BODY});\n`,
  'pipeline.config.cjs': `const { defineConfig } = require('${name}');\nmodule.exports = defineConfig(${CONFIG_BODY});\n`,
};

async function folderWith(files) {
  const dir = await mkdtemp(join(tmp, 'project-'));
  for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), content);
  return dir;
}

test('the tarball holds the built CLI, its help, types, README and LICENSE, and no sources, tests or source maps', (t) => {
  for (const file of [
    'package.json',
    'README.md',
    'LICENSE',
    'dist/cli/index.js',
    'dist/cli/help.txt',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/config/own-package-hook.js',
  ]) {
    t.true(packedFiles.includes(file), `${file} is packed`);
  }
  t.deepEqual(
    packedFiles.filter((file) => /^(src|test|bench|examples|scripts)\/|\.map$/.test(file)),
    [],
  );
});

test('installed globally, the CLI loads configs that import the package by name, with no node_modules beside them', async (t) => {
  const prefix = join(tmp, 'global');
  await npm(['install', '--global', '--prefix', prefix, tarball], tmp);
  const cli = (args, cwd) => run(join(prefix, 'bin', 'pipeline'), args, { cwd, env });

  t.is((await cli(['--version'], tmp)).stdout, `${version}\n`);

  for (const file of Object.keys(CONFIGS)) {
    const dir = await folderWith({ [file]: CONFIGS[file] });
    const { stdout, stderr } = await cli(['config'], dir);
    t.is(stderr, `# ${join(dir, file)}\n`, `${file}: names the file it loaded`);
    t.regex(stdout, /"project": "packaged"/, file);
    t.regex(stdout, /"8080:8000"/, file);
  }

  const repo = await folderWith({ 'pipeline.config.ts': CONFIGS['pipeline.config.ts'], Dockerfile: 'FROM scratch\n' });
  const git = (...args) => run('git', ['-c', 'user.name=Pat', '-c', 'user.email=pat@example.com', ...args], { cwd: repo, env: npmEnv });
  await git('init', '--quiet', '--initial-branch', 'develop');
  await git('add', '.');
  await git('commit', '--quiet', '--message', 'The app');
  const sha = (await git('rev-parse', 'HEAD')).stdout.trim();
  const { stdout } = await cli(['plan', '--offline'], repo);
  t.regex(stdout, new RegExp(`^commit +${sha} \\(develop\\)$`, 'm'));
  t.regex(stdout, /^image +registry\.example\.com\/acme\/packaged:develop$/m);
  t.regex(stdout, /^deploy +develop → qa$/m);
  t.regex(stdout, /^ +deploy@qa-web-1\.example\.com \[web\]\n +web +registry\.example\.com\/acme\/packaged:develop$/m);
});

test("installed in a project, its own pipeline command loads the project's config", async (t) => {
  const dir = await folderWith({
    'package.json': JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }),
    'pipeline.config.js': CONFIGS['pipeline.config.mjs'],
  });
  await npm(['install', '--save-dev', tarball], dir);
  const installed = JSON.parse(await readFile(join(dir, 'node_modules', ...name.split('/'), 'package.json'), 'utf8'));
  t.is(installed.version, version);
  const { stdout, stderr } = await run(join(dir, 'node_modules', '.bin', 'pipeline'), ['config'], { cwd: dir, env });
  t.is(stderr, `# ${join(dir, 'pipeline.config.js')}\n`);
  t.regex(stdout, /"project": "packaged"/);
});
