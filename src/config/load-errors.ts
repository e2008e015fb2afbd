import { SourceMap } from 'node:module';
import { isAbsolute, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type TypeScript from 'typescript';
import { ConfigError } from '../errors.js';

/** Where in a config file a problem is; line and column count from 1. */
export interface Place {
  file: string;
  line?: number;
  column?: number;
}

/**
 * A config file that cannot be read as a configuration: a syntax error, or code
 * that threw while it was imported. The loader rewords it with the file as the user sees it.
 */
export class ConfigFileProblem extends ConfigError {
  constructor(
    readonly kind: 'syntax error' | 'configuration threw',
    readonly place: Place,
    readonly detail: string,
  ) {
    super(`${kind} in ${place.file}: ${detail}`);
  }
}

/** `syntax error in pipeline.config.ts:3:5: ',' expected`, the file relative to `cwd` when it is inside it. */
export function describeProblem(problem: ConfigFileProblem, cwd: string): string {
  const inside = relative(cwd, problem.place.file);
  const file = inside && !inside.startsWith('..') && !isAbsolute(inside) ? inside : problem.place.file;
  const { line, column } = problem.place;
  const at = line === undefined ? file : column === undefined ? `${file}:${line}` : `${file}:${line}:${column}`;
  return `${problem.kind} in ${at}: ${problem.detail}`;
}

/** Line and column (from 1) of a character offset in `text`. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

/** The first error among TypeScript's syntactic diagnostics, with its place, or undefined when there is none. */
export function syntaxProblem(
  ts: typeof TypeScript,
  file: string,
  diagnostics: readonly TypeScript.Diagnostic[],
): ConfigFileProblem | undefined {
  const errors = diagnostics.filter((diagnostic) => diagnostic.category === ts.DiagnosticCategory.Error && diagnostic.file);
  const first = errors[0];
  if (first === undefined) return undefined;
  const { line, character } = ts.getLineAndCharacterOfPosition(first.file!, first.start ?? 0);
  const message = ts.flattenDiagnosticMessageText(first.messageText, ' ').replace(/\.$/, '');
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
  return new ConfigFileProblem('syntax error', { file, line: line + 1, column: character + 1 }, `${message}${more}`);
}

/** A JSON syntax error as V8 reports it, with its place; Node 20 leaves the offset out of some messages, so it is found here. */
export function jsonProblem(file: string, text: string, error: Error): ConfigFileProblem {
  const given = /at position (\d+)/.exec(error.message)?.[1];
  const offset = given !== undefined ? Number(given) : jsonErrorOffset(text);
  const detail = error.message
    .replace(/, (?:\.\.\.)?".*"(?:\.\.\.)? is not valid JSON$/s, '')
    .replace(/ (?:in JSON )?at position \d+.*$/s, '')
    .replace(/ of JSON input$/, ' of the file');
  return new ConfigFileProblem('syntax error', { file, ...lineAndColumn(text, Math.min(offset, text.length)) }, detail);
}

/** The offset at which `text` stops being strict JSON (its length when it ends too early). */
export function jsonErrorOffset(text: string): number {
  let at = 0;
  const skipSpace = () => {
    while (' \t\n\r'.includes(text[at] ?? '_')) at++;
  };
  const expect = (ok: boolean) => {
    if (!ok) throw at;
  };
  const string = () => {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: JSON strings may not hold control characters; this finds them.
    const match = /^"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/.exec(text.slice(at));
    expect(match !== null);
    at += match![0].length;
  };
  const list = (close: string, item: () => void) => {
    at++;
    skipSpace();
    if (text[at] === close) {
      at++;
      return;
    }
    for (;;) {
      item();
      skipSpace();
      if (text[at] === close) {
        at++;
        return;
      }
      expect(text[at] === ',');
      at++;
      skipSpace();
    }
  };
  const value = (): void => {
    skipSpace();
    const char = text[at];
    if (char === '{') {
      list('}', () => {
        expect(text[at] === '"');
        string();
        skipSpace();
        expect(text[at] === ':');
        at++;
        value();
      });
      return;
    }
    if (char === '[') {
      list(']', value);
      return;
    }
    if (char === '"') {
      string();
      return;
    }
    const literal = ['true', 'false', 'null'].find((word) => word[0] === char);
    if (literal !== undefined) {
      // Where V8 stops too: at the first character that breaks the word.
      for (const letter of literal) {
        expect(text[at] === letter);
        at++;
      }
      return;
    }
    const number = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(at));
    expect(number !== null);
    at += number![0].length;
  };
  try {
    value();
    skipSpace();
    expect(at === text.length);
    return text.length;
  } catch (offset) {
    if (typeof offset !== 'number') throw offset;
    return offset;
  }
}

/**
 * How a config was imported: the paths of the module node ran (the config itself, or the
 * JavaScript a TypeScript config became, each also as its real path) and, for generated
 * code, that code, whose inline source map leads back to the config's lines.
 */
export interface Imported {
  paths: string[];
  code?: string;
}

/**
 * Why importing a config failed, naming the config: its frame in the stack gives the
 * line, and any mention of the generated module becomes the config file.
 */
export function importProblem(error: unknown, file: string, imported: Imported): ConfigFileProblem | Error {
  if (!(error instanceof Error)) return new ConfigFileProblem('configuration threw', { file }, String(error));
  const mentions = imported.paths.flatMap((path) => [pathToFileURL(path).href, path]);
  const message = mentions.reduce((text, mention) => text.split(mention).join(file), error.message.split('\n')[0]!);
  const stack = error.stack ?? '';
  const generatedFrame = imported.code === undefined ? undefined : frameIn(stack, imported.paths);
  const place =
    imported.code === undefined
      ? frameIn(stack, [file, ...imported.paths])
      : (frameIn(stack, [file]) ?? (generatedFrame && originalPlace(imported.code, generatedFrame.line, generatedFrame.column)));
  if (place !== undefined) return new ConfigFileProblem('configuration threw', { file, ...place }, `${error.name}: ${message}`);
  // A module that cannot be found or linked did not run: not something the config threw.
  const code = (error as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && code.startsWith('ERR_')) return new Error(message);
  if (error instanceof SyntaxError)
    return new ConfigFileProblem('syntax error', { file }, `${message} (in this file or a module it imports)`);
  return new ConfigFileProblem('configuration threw', { file }, `${error.name}: ${message}`);
}

/** Line and column of the first stack frame in one of `files` (each named in the stack as a path or a file: URL). */
export function frameIn(stack: string, files: string[]): { line: number; column: number } | undefined {
  const names = files.flatMap((file) => [pathToFileURL(file).href, file]).map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const frame = new RegExp(`^\\s+at (?:.*[\\s(])?(?:${names.join('|')}):(\\d+):(\\d+)\\)?$`, 'm').exec(stack);
  return frame ? { line: Number(frame[1]), column: Number(frame[2]) } : undefined;
}

/** Where a line and column of generated code came from, by the code's inline source map. */
export function originalPlace(code: string, line: number, column: number): { line: number; column: number } | undefined {
  const data = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/.exec(code)?.[1];
  if (data === undefined) return undefined;
  const entry = new SourceMap(JSON.parse(Buffer.from(data, 'base64').toString('utf8'))).findEntry(line - 1, column - 1);
  return 'originalLine' in entry ? { line: entry.originalLine + 1, column: entry.originalColumn + 1 } : undefined;
}
