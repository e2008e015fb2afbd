import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Loaders } from 'cosmiconfig';
import { ConfigError } from '../errors.js';
import { resolveOwnPackage } from './own-package.js';
import { validateConfig, type PipelineConfig } from './schema.js';

export interface LoadedConfig {
  config: PipelineConfig;
  /** The file it came from. */
  filepath: string;
  /** Relative paths in the config (build context, SSH files) are relative to this folder. */
  dir: string;
}

const SEARCH_PLACES = [
  'pipeline.config.ts', 'pipeline.config.mts', 'pipeline.config.mjs', 'pipeline.config.js', 'pipeline.config.cjs',
  'pipeline.config.json', 'pipeline.config.yaml', 'pipeline.config.yml', 'package.json',
];

/** Find (from `cwd` up to the project root) or read `file`, then validate it. */
export async function loadConfig(options: { cwd: string; file?: string }): Promise<LoadedConfig> {
  const { cosmiconfig, defaultLoaders } = await import('cosmiconfig');
  const explorer = cosmiconfig('pipeline', {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'project',
    loaders: withOwnPackage({ ...defaultLoaders, '.ts': loadTypeScript, '.mts': loadTypeScript }, ['.ts', '.mts', '.js', '.mjs', '.cjs']),
  });
  let result;
  try {
    result = options.file ? await explorer.load(resolve(options.cwd, options.file)) : await explorer.search(options.cwd);
  } catch (error) {
    throw new ConfigError(`cannot load configuration: ${firstLine(error)}`, { cause: error });
  }
  if (!result || result.isEmpty) {
    throw new ConfigError(options.file
      ? `configuration file ${options.file} is empty`
      : `no pipeline configuration found from ${options.cwd} up to the project root (looked for pipeline.config.ts, .mjs, .js, .json, .yaml or a "pipeline" key in package.json)`);
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
  const hash = createHash('sha256').update(content).digest('hex').slice(0, 16);
  const cacheFile = join(cacheDir(), `${hash}.mjs`);
  let code = await readFile(cacheFile, 'utf8').catch(() => undefined);
  if (code === undefined) {
    const ts = (await import('typescript')).default;
    code = ts.transpileModule(content, {
      fileName: filepath,
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    await mkdir(dirname(cacheFile), { recursive: true }).then(() => writeFile(cacheFile, code!)).catch(() => undefined);
  }
  const tempFile = join(dirname(filepath), `.${basename(filepath)}.${hash}.${process.pid}.mjs`);
  const target = await writeFile(tempFile, code).then(() => tempFile, () => cacheFile);
  try {
    return await import(pathToFileURL(target).href);
  } finally {
    if (target === tempFile) await rm(tempFile, { force: true });
  }
}

/** The loaders, those of `extensions` (code that can import) first making the package importable by its name. */
function withOwnPackage(loaders: Loaders, extensions: string[]): Loaders {
  const wrapped = extensions.map((extension) => [extension, (filepath: string, content: string) => {
    resolveOwnPackage();
    return loaders[extension]!(filepath, content);
  }]);
  return { ...loaders, ...Object.fromEntries(wrapped) };
}

function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pipeline', 'config');
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0]!;
}
