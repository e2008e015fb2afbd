import { createHash } from 'node:crypto';
import { mkdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Loaders } from 'cosmiconfig';
import { ConfigError } from '../errors.js';
import { ConfigFileProblem, describeProblem, importProblem, jsonProblem, syntaxProblem } from './load-errors.js';
import { resolveOwnPackage } from './own-package.js';
import { type PipelineConfig, validateConfig } from './schema.js';

export interface LoadedConfig {
  config: PipelineConfig;
  /** The file it came from. */
  filepath: string;
  /** Relative paths in the config (build context, SSH files) are relative to this folder. */
  dir: string;
}

const SEARCH_PLACES = [
  'pipeline.config.ts',
  'pipeline.config.mts',
  'pipeline.config.mjs',
  'pipeline.config.js',
  'pipeline.config.cjs',
  'pipeline.config.json',
  'pipeline.config.yaml',
  'pipeline.config.yml',
  'package.json',
];

/** Find (from `cwd` up to the project root) or read `file`, then validate it. */
export async function loadConfig(options: { cwd: string; file?: string }): Promise<LoadedConfig> {
  const { cosmiconfig } = await import('cosmiconfig');
  const explorer = cosmiconfig('pipeline', {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'project',
    loaders: withOwnPackage(
      {
        '.ts': loadTypeScript,
        '.mts': loadTypeScript,
        '.js': loadJavaScript,
        '.mjs': loadJavaScript,
        '.cjs': loadJavaScript,
        '.json': loadJson,
        '.yaml': loadYaml,
        '.yml': loadYaml,
        noExt: loadYaml,
      },
      ['.ts', '.mts', '.js', '.mjs', '.cjs'],
    ),
  });
  let result: Awaited<ReturnType<typeof explorer.search>>;
  try {
    result = options.file ? await explorer.load(resolve(options.cwd, options.file)) : await explorer.search(options.cwd);
  } catch (error) {
    throw loadFailure(error, options.cwd);
  }
  if (!result || result.isEmpty) {
    throw new ConfigError(
      options.file
        ? `configuration file ${options.file} is empty`
        : `no pipeline configuration found from ${options.cwd} up to the project root (looked for pipeline.config.ts, .mjs, .js, .json, .yaml or a "pipeline" key in package.json)`,
    );
  }
  const raw = result.config?.default ?? result.config;
  return { config: validateConfig(raw, basename(result.filepath)), filepath: result.filepath, dir: dirname(result.filepath) };
}

/** A path from the config: `~` is the user's home, relative paths start at the config's folder. */
export function configPath(dir: string, path: string): string {
  if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(dir, path);
}

/**
 * Loads a TypeScript config. The compiler costs about 0.4 s to load, so its
 * output is cached by the file's content; the module is imported from beside
 * the config so that its relative imports resolve.
 */
async function loadTypeScript(filepath: string, content: string): Promise<unknown> {
  const hash = createHash('sha256').update(TRANSPILED_FORMAT).update(content).digest('hex').slice(0, 16);
  const cacheFile = join(cacheDir(), `${hash}.mjs`);
  let code = await readFile(cacheFile, 'utf8').catch(() => undefined);
  if (code === undefined) {
    const ts = (await import('typescript')).default;
    code = transpileConfig(ts, filepath, content);
    await mkdir(dirname(cacheFile), { recursive: true })
      .then(() => writeFile(cacheFile, code!))
      .catch(() => undefined);
  }
  const tempFile = join(dirname(filepath), `.${basename(filepath)}.${hash}.${process.pid}.mjs`);
  const target = await writeFile(tempFile, code).then(
    () => tempFile,
    () => cacheFile,
  );
  try {
    return await import(pathToFileURL(target).href).catch(async (error: unknown) => {
      throw importProblem(error, filepath, { paths: await withRealPaths([target]), code });
    });
  } finally {
    if (target === tempFile) await rm(tempFile, { force: true });
  }
}

/** The loaders, those of `extensions` (code that can import) first making the package importable by its name. */
function withOwnPackage(loaders: Loaders, extensions: string[]): Loaders {
  const wrapped = extensions.map((extension) => [
    extension,
    (filepath: string, content: string) => {
      resolveOwnPackage();
      return loaders[extension]!(filepath, content);
    },
  ]);
  return { ...loaders, ...Object.fromEntries(wrapped) };
}

/** Part of the cache key: output made with other compiler options (before source maps) is not reused. */
const TRANSPILED_FORMAT = 'esnext+inline-source-map\0';

/** The config as JavaScript with an inline source map, which leads a stack frame back to the config's line. */
function transpileConfig(ts: typeof import('typescript'), filepath: string, content: string): string {
  const { outputText, diagnostics = [] } = ts.transpileModule(content, {
    fileName: filepath,
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true, inlineSourceMap: true },
  });
  const problem = syntaxProblem(ts, filepath, diagnostics);
  if (problem) throw problem;
  return outputText;
}

/**
 * Loads a JavaScript config (ESM or CommonJS) by importing it. Node does not say
 * where an ES module's syntax error is, so the TypeScript parser finds it.
 */
async function loadJavaScript(filepath: string, content: string): Promise<unknown> {
  const paths = await withRealPaths([filepath]);
  try {
    return (await import(pathToFileURL(paths.at(-1)!).href)).default;
  } catch (error) {
    const problem = importProblem(error, filepath, { paths });
    if (problem instanceof ConfigFileProblem && problem.kind === 'syntax error' && problem.place.line === undefined) {
      const ts = (await import('typescript')).default;
      const { diagnostics = [] } = ts.transpileModule(content, { fileName: filepath, reportDiagnostics: true });
      throw syntaxProblem(ts, filepath, diagnostics) ?? problem;
    }
    throw problem;
  }
}

function loadJson(filepath: string, content: string): unknown {
  try {
    return JSON.parse(content);
  } catch (error) {
    throw jsonProblem(filepath, content, error as Error);
  }
}

async function loadYaml(filepath: string, content: string): Promise<unknown> {
  const { defaultLoaders } = await import('cosmiconfig');
  try {
    return await defaultLoaders['.yaml'](filepath, content);
  } catch (error) {
    const { mark, reason } = error as { mark?: { line: number; column: number }; reason?: string };
    if (mark === undefined || reason === undefined) throw error;
    throw new ConfigFileProblem('syntax error', { file: filepath, line: mark.line + 1, column: mark.column + 1 }, reason);
  }
}

/** A path and, when it differs, the real path node names the module by in stack traces. */
async function withRealPaths(paths: string[]): Promise<string[]> {
  const real = await Promise.all(paths.map((path) => realpath(path).catch(() => path)));
  return [...new Set([...paths, ...real])];
}

/** One line for why the configuration could not be loaded: file, line and column when they are known. */
function loadFailure(error: unknown, cwd: string): ConfigError {
  if (error instanceof ConfigFileProblem) return new ConfigError(describeProblem(error, cwd), { cause: error });
  if (error instanceof ConfigError) return error;
  return new ConfigError(`cannot load configuration: ${firstLine(error)}`, { cause: error });
}

function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pipeline', 'config');
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0]!;
}
