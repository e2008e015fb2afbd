import { PassThrough, type Readable } from 'node:stream';
import { contextFilter, contextPath, dockerignorePatterns, exclusionPathspec, gitExclusions } from '../core/dockerignore.js';
import { archiveTree, listTree, showFile } from './git.js';

export interface ContextSource {
  repoRoot: string;
  sha: string;
  /** The build context folder, relative to the repository root ('' for the root). */
  folder: string;
  /** The Dockerfile's path inside the context. */
  dockerfile: string;
}

/**
 * The build context as Docker wants it: a tar of the committed folder without
 * what `.dockerignore` excludes (the Dockerfile and .dockerignore are always sent,
 * as the docker CLI does). Streamed, so a large context never sits in memory.
 */
export async function contextTar(source: ContextSource): Promise<{ tar: Readable; excluded: () => number }> {
  const { default: tarStream } = await import('tar-stream');
  const patterns = dockerignorePatterns(await showFile(source.repoRoot, source.sha, joinPath(source.folder, '.dockerignore')));
  const sent = contextFilter(patterns, source.dockerfile);
  // Git leaves out what it surely may, so those files are never read; the filter below still judges every entry.
  const entries = patterns.some((pattern) => exclusionPathspec(pattern)) ? await listTree(source.repoRoot, source.sha, source.folder) : [];
  const exclusions = gitExclusions(patterns, sent, entries);

  const extract = tarStream.extract();
  const pack = tarStream.pack();
  const out = new PassThrough();
  let dropped = 0;
  extract.on('entry', (header, stream, next) => {
    const path = contextPath(header.name);
    if (path !== '' && !sent(path)) {
      dropped += 1;
      stream.on('end', next).resume();
      return;
    }
    stream.pipe(pack.entry(header, (error) => (error ? extract.destroy(error) : next())));
  });
  extract.on('finish', () => pack.finalize());
  const fail = (error: Error) => out.destroy(error);
  extract.on('error', fail);
  pack.on('error', fail);
  const archive = archiveTree(source.repoRoot, source.sha, source.folder, exclusions);
  archive.on('error', fail);
  archive.pipe(extract);
  pack.pipe(out);
  // What git left out never reached the filter: count it from the tree.
  const excluded = () => (exclusions.length > 0 ? entries.filter((entry) => !sent(entry.path)).length : dropped);
  return { tar: out, excluded };
}

function joinPath(folder: string, name: string): string {
  return folder ? `${folder}/${name}` : name;
}
