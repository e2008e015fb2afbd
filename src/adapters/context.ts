import { PassThrough, type Readable } from 'node:stream';
import dockerignoreModule from '@balena/dockerignore';
import { archiveTree, showFile } from './git.js';

export interface ContextSource {
  repoRoot: string;
  sha: string;
  /** The build context folder, relative to the repository root ('' for the root). */
  folder: string;
  /** The Dockerfile's path inside the context. */
  dockerfile: string;
}

// The package is CommonJS: at run time the default import is the function its types call `default`.
const dockerignore = dockerignoreModule as unknown as typeof dockerignoreModule.default;

/**
 * The build context as Docker wants it: a tar of the committed folder without
 * what `.dockerignore` excludes (the Dockerfile and .dockerignore are always sent,
 * as the docker CLI does). Streamed, so a large context never sits in memory.
 */
export async function contextTar(source: ContextSource): Promise<{ tar: Readable; excluded: () => number }> {
  const { default: tarStream } = await import('tar-stream');
  const ignoreText = await showFile(source.repoRoot, source.sha, joinPath(source.folder, '.dockerignore'));
  const ignore = dockerignore({ ignorecase: false }).add((ignoreText ?? '').split(/\r?\n/).map((line) => line.trim()).filter((line) => line && !line.startsWith('#')));
  const keep = new Set([normalize(source.dockerfile), '.dockerignore']);

  const extract = tarStream.extract();
  const pack = tarStream.pack();
  const out = new PassThrough();
  let excluded = 0;
  extract.on('entry', (header, stream, next) => {
    const path = normalize(header.name);
    if (path !== '' && !keep.has(path) && ignore.ignores(path)) {
      excluded += 1;
      stream.on('end', next).resume();
      return;
    }
    stream.pipe(pack.entry(header, (error) => (error ? extract.destroy(error) : next())));
  });
  extract.on('finish', () => pack.finalize());
  const fail = (error: Error) => out.destroy(error);
  extract.on('error', fail);
  pack.on('error', fail);
  const archive = archiveTree(source.repoRoot, source.sha, source.folder);
  archive.on('error', fail);
  archive.pipe(extract);
  pack.pipe(out);
  return { tar: out, excluded: () => excluded };
}

function normalize(path: string): string {
  return path.replace(/^\.\//, '').replace(/\/+$/, '');
}

function joinPath(folder: string, name: string): string {
  return folder ? `${folder}/${name}` : name;
}
