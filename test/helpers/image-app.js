// Small apps of the tests' own (a Dockerfile and a few files in a temporary git repository), and the runner-engine
// and registry state the build-cache and transfer tests look at. Every name is the calling test's own.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NO_CI } from './world.js';

const run = promisify(execFile);

/** A git repository (on branch develop) holding `files`; `commit(files)` commits changes on the current branch. */
export async function makeAppRepo(files, { prefix = 'pipeline-app-' } = {}) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const work = join(dir, 'work');
  await run('mkdir', ['-p', work]);
  const git = (...args) => run('git', args, { cwd: work });
  await git('init', '-q', '-b', 'develop');
  await git('config', 'user.email', 'dev@example.com');
  await git('config', 'user.name', 'Dev');
  const commit = async (changes, message = 'Change') => {
    for (const [path, content] of Object.entries(changes)) await writeFile(join(work, path), content);
    await git('add', '-A');
    await git('commit', '-qm', message);
    return (await git('rev-parse', 'HEAD')).stdout.trim();
  };
  await commit(files, 'App');
  return { dir, work, git, commit, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Removes every image of `repository` from an engine, by id, with the parent layers only they use (the classic builder's cache). */
export async function removeRepositoryImages(docker, repository) {
  const images = await docker.listImages({ filters: { reference: [repository] } });
  for (const image of images)
    await docker
      .getImage(image.Id)
      .remove({ force: true })
      .catch(() => undefined);
  return (await docker.listImages({ filters: { reference: [repository] } })).length;
}

/** Removes every container (running or not) of a project from an engine. */
export async function removeProjectContainers(docker, project) {
  const list = await docker.listContainers({ all: true, filters: { label: [`pipeline.project=${project}`] } });
  await Promise.all(
    list.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}

/** Engine events (image pulls, container starts…) between two instants, as `{ Type, Action, Actor }` objects. */
export async function engineEvents(docker, since, until, filters = {}) {
  const stream = await docker.getEvents({ since: Math.floor(since / 1000), until: Math.ceil(until / 1000) + 1, filters });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks)
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/** The registry's answer to a manifest by tag or digest: its HTTP status (200 or 404). */
export async function manifestStatus(world, repository, reference) {
  const response = await fetch(`http://${world.registry}/v2/${repository}/manifests/${reference}`, {
    method: 'HEAD',
    headers: {
      authorization: `Basic ${Buffer.from(`${world.username}:${world.password}`).toString('base64')}`,
      accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
    },
  });
  return response.status;
}

/** The CI-free environment a test run needs (the branch comes from git). */
export function plainEnv(extra = {}) {
  return { ...process.env, ...NO_CI, ...extra };
}
