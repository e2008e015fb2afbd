// Access to the project's test world (scripts/world.sh): registry, hosts, and the real CLI.
import { execFile, spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { branchTag } from '../../dist/core/tag.js';
import { CLI, ROOT } from './paths.js';
import { readWorldEnv } from './world-env.js';

export { CLI, ROOT };
export const EXAMPLE = join(ROOT, 'examples/shopping-tool');
/** The example's repository in the world's registry. */
export const REPOSITORY = 'allume/shopping-tool';
const run = promisify(execFile);

/** The world's settings; a missing world is a failure, never a skip. */
export async function loadWorld() {
  const { vars, ...world } = await readWorldEnv();
  return {
    ...world,
    /** dockerode clients for each host's engine, straight to its socket (for assertions only). */
    engines: vars.PIPELINE_WORLD_HOST_SOCKETS.split(/\s+/).map((socketPath) => new Docker({ socketPath })),
  };
}

/** The runner's environment as a laptop's: no CI service's variables, so the branch comes from git. */
export const NO_CI = {
  CI: '',
  CIRCLECI: '',
  CIRCLE_BRANCH: '',
  CIRCLE_TAG: '',
  CIRCLE_SHA1: '',
  GITHUB_ACTIONS: '',
  GITHUB_REF_NAME: '',
  GITHUB_HEAD_REF: '',
};

/** What a command prints in a running container, and its exit code, through the engine straight (for assertions only). */
export async function execOutput(engine, container, command) {
  const exec = await engine.getContainer(container).exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  let output = '';
  const sink = {
    write: (chunk) => {
      output += chunk;
      return true;
    },
    end() {},
    on() {},
    once() {},
    emit() {},
  };
  engine.modem.demuxStream(stream, sink, sink);
  await new Promise((resolve) => stream.on('end', resolve));
  return { output, code: (await exec.inspect()).ExitCode };
}

/** Environment for the example's pipeline.config.ts: qa = h1 (web) + h2 (worker), production = h3 + h4, uat = h5 (both roles). */
export function exampleEnv(world, extra = {}) {
  const [h1, h2, h3, h4, h5] = world.hosts;
  return {
    ...process.env,
    ...NO_CI,
    REGISTRY: world.registry,
    REGISTRY_USER: world.username,
    REGISTRY_PASSWORD: world.password,
    DEPLOY_USER: world.sshUser,
    DEPLOY_KEY: world.sshKey,
    DEPLOY_KNOWN_HOSTS: world.knownHosts,
    QA_WEB_HOSTS: h1,
    QA_WORKER_HOSTS: h2,
    PRODUCTION_WEB_HOSTS: h3,
    PRODUCTION_WORKER_HOSTS: h4,
    UAT_HOSTS: h5,
    // The world has no Docker Hub: its own images stand in for the example's node:24-slim and logstash.
    BASE_IMAGE: world.nodeImage,
    LOGSTASH_IMAGE: world.logstashImage,
    ...extra,
  };
}

/** Runs the real CLI as a child process; resolves with its exit code and output (never rejects on a non-zero exit). */
export function pipeline(args, { cwd, env }) {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('close', (code, signal) => resolvePromise({ code, signal, stdout, stderr, output: stdout + stderr }));
  });
}

/** A clone of a bare origin holding the example app, with master, develop and feature/x branches. */
export async function makeRepo() {
  const dir = await mkdtemp(join(tmpdir(), 'pipeline-repo-'));
  const origin = join(dir, 'origin.git');
  const work = join(dir, 'work');
  await cp(EXAMPLE, work, { recursive: true, filter: (src) => !src.includes('node_modules') });
  const git = (...args) => run('git', args, { cwd: work });
  await run('git', ['init', '--bare', '-q', '-b', 'master', origin]);
  await git('init', '-q', '-b', 'master');
  await git('config', 'user.email', 'dev@example.com');
  await git('config', 'user.name', 'Dev');
  await git('add', '-A');
  await git('commit', '-qm', 'Shopping tool');
  await git('remote', 'add', 'origin', origin);
  await git('push', '-q', 'origin', 'master');
  for (const branch of ['develop', 'feature/x']) {
    await git('branch', branch);
    await git('push', '-q', 'origin', branch);
  }
  return { dir, work, origin, git, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The current container of each service of the example project on one host engine (kept previous releases aside). */
export async function projectContainers(engine, project = 'shopping-tool') {
  const list = await engine.listContainers({ all: true, filters: { label: [`pipeline.project=${project}`] } });
  return Object.fromEntries(
    list.filter((c) => c.Names.includes(`/${project}-${c.Labels['pipeline.service']}`)).map((c) => [c.Labels['pipeline.service'], c]),
  );
}

/** Previous releases kept for rollback, newest first. */
export async function keptContainers(engine, service, project = 'shopping-tool') {
  const list = await engine.listContainers({
    all: true,
    filters: { label: [`pipeline.project=${project}`, `pipeline.service=${service}`] },
  });
  return list.filter((c) => !c.Names.includes(`/${project}-${service}`)).sort((a, b) => b.Created - a.Created);
}

/** Where deploys keep their locks, in the home of the user they log in as. */
const LOCKS = '.pipeline/locks';
/** Where deploys keep the record of a switch not verified yet (src/deploy/pending.ts), beside the locks. */
const PENDING = '.pipeline/pending';

/**
 * Leaves no trace of a project on any host: every container of it (current and kept releases, found by name and
 * by label) and its deploy locks in the deploy user's home (with the staging folders and the folders expired locks
 * were renamed to).
 */
export async function resetHosts(world, project = 'shopping-tool') {
  await Promise.all(
    world.engines.map(async (engine, index) => {
      const list = await engine.listContainers({ all: true });
      await Promise.all(
        list
          .filter((c) => c.Names.some((name) => name.startsWith(`/${project}-`)) || c.Labels?.['pipeline.project'] === project)
          .map((c) =>
            engine
              .getContainer(c.Id)
              .remove({ force: true })
              .catch(() => undefined),
          ),
      );
      await removeLocks(join(hostHome(index), LOCKS), project, true);
      await removePending(join(hostHome(index), PENDING), project);
    }),
  );
}

/** Removes the pending deploy records of a project's environments from a pending folder. */
async function removePending(folder, project) {
  const names = await readdir(folder).catch(() => []);
  await Promise.all(names.filter((name) => name.startsWith(`${project}-`)).map((name) => rm(join(folder, name), { force: true })));
}

/**
 * Removes a project's lock folders from a locks folder; with `transient`, also every staging folder and every
 * folder an expired lock was renamed to (their records do not name the project; only tests deploy to the world).
 */
async function removeLocks(folder, project, transient = false) {
  const names = await readdir(folder).catch(() => []);
  const ours = (name) => name.startsWith(`${project}-`) || (transient && (name.startsWith('.staging-') || name.startsWith('.expired-')));
  await Promise.all(names.filter(ours).map((name) => rm(join(folder, name), { recursive: true, force: true })));
}

/** Removes the locks a project's `local` deploys left in this machine's home (the runner is the host `local`). */
export async function removeLocalLocks(project) {
  await removeLocks(join(homedir(), LOCKS), project);
  await removePending(join(homedir(), PENDING), project);
}

const basicAuth = (world) => `Basic ${Buffer.from(`${world.username}:${world.password}`).toString('base64')}`;

/**
 * The image a tag names in the world's registry: its manifest digest and its labels (`pipeline.commit` and
 * `pipeline.branch` say which build pushed it); undefined when the tag is not there.
 */
export async function registryImage(world, repository, tag) {
  const base = `http://${world.registry}/v2/${repository}`;
  const manifest = await fetch(`${base}/manifests/${tag}`, {
    headers: {
      authorization: basicAuth(world),
      accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
    },
  });
  if (manifest.status === 404) return undefined;
  if (!manifest.ok) throw new Error(`registry answered ${manifest.status} for ${repository}:${tag}`);
  const { config } = await manifest.json();
  const blob = await fetch(`${base}/blobs/${config.digest}`, { headers: { authorization: basicAuth(world) } });
  if (!blob.ok) throw new Error(`registry answered ${blob.status} for the config of ${repository}:${tag}`);
  return { digest: manifest.headers.get('docker-content-digest'), labels: (await blob.json()).config?.Labels ?? {} };
}

/**
 * Builds, tests and pushes the example for each branch as CI would (`pipeline run --skip deploy`: no host is
 * touched), then checks that the registry's tag is this build (its image carries the branch's commit of this
 * repo), so that nothing an earlier run left in the registry stands in for it. Ends on `checkout`.
 * Resolves with each branch tag's image (digest, labels).
 */
export async function pushBranches({ world, repo, env, config }, branches, checkout = 'develop') {
  const images = {};
  for (const branch of branches) {
    await repo.git('checkout', '-q', branch);
    const result = await pipeline(['--config', config, 'run', '--skip', 'deploy'], { cwd: repo.work, env });
    if (result.code !== 0) throw new Error(`building and pushing ${branch} failed:\n${result.output}`);
    const sha = (await repo.git('rev-parse', 'HEAD')).stdout.trim();
    const tag = branchTag(branch);
    const image = await registryImage(world, REPOSITORY, tag);
    if (image?.labels['pipeline.commit'] !== sha || image.labels['pipeline.branch'] !== branch) {
      throw new Error(`${REPOSITORY}:${tag} in the registry is not the build of ${branch} at ${sha} just pushed: ${JSON.stringify(image)}`);
    }
    images[tag] = image;
  }
  await repo.git('checkout', '-q', checkout);
  return images;
}

/** Tags of a repository in the world's registry (authenticated). */
export async function registryTags(world, repository) {
  const response = await fetch(`http://${world.registry}/v2/${repository}/tags/list`, { headers: { authorization: basicAuth(world) } });
  if (response.status === 404) return [];
  if (!response.ok) throw new Error(`registry answered ${response.status}`);
  return (await response.json()).tags ?? [];
}

export async function inspect(engine, name) {
  return engine.getContainer(name).inspect();
}

/** The example's configuration as an object pointing at the world, for tests that need to change it (written as JSON). */
export function worldConfig(world) {
  const [h1, h2, h3, h4, h5] = world.hosts;
  return {
    project: 'shopping-tool',
    image: `${world.registry}/${REPOSITORY}`,
    registry: { server: world.registry, username: world.username, password: world.password },
    build: { context: '.', dockerfile: 'Dockerfile', args: { BASE_IMAGE: world.nodeImage } },
    test: { command: ['node', '--test'], env: { CI: 'true' } },
    ssh: { user: world.sshUser, identityFile: world.sshKey, knownHosts: world.knownHosts },
    environments: {
      qa: {
        aliases: ['stage'],
        on: { branches: ['develop'] },
        defaultTag: 'develop',
        hosts: { web: [h1], worker: [h2] },
        env: { APP_ENV: 'qa' },
      },
      production: {
        on: { branches: ['master'] },
        defaultTag: 'master',
        hosts: { web: [h3], worker: [h4] },
        env: { APP_ENV: 'production' },
      },
      uat: { on: { tags: ['uat'] }, defaultTag: 'develop', hosts: { web: [h5], worker: [h5] }, env: { APP_ENV: 'uat' } },
    },
    services: {
      web: {
        roles: ['web'],
        command: ['node', 'server.js'],
        ports: ['8080:8000'],
        healthcheck: { http: { path: '/health', port: 8000 }, interval: '500ms', retries: 20 },
        stopGracePeriod: '5s',
      },
      worker: { roles: ['worker'], command: ['node', 'worker.js'], env: { QUEUE: 'default' }, stopGracePeriod: '5s' },
      logstash: { roles: ['web', 'worker'], image: world.logstashImage, redeploy: false },
    },
  };
}

/** Writes a config file outside the work tree (its build context the work tree) and returns its path (for --config). */
export async function writeConfig(repo, config, name = 'pipeline.config.json') {
  const file = join(repo.dir, name);
  await writeFile(file, JSON.stringify({ ...config, build: { ...config.build, context: repo.work } }, null, 2));
  return file;
}

/** Commits a change to the example app on a new branch. */
export async function commitOnBranch(repo, branch, from, files) {
  await repo.git('checkout', '-q', '-B', branch, from);
  for (const [path, content] of Object.entries(files)) await writeFile(join(repo.work, path), content);
  await repo.git('add', '-A');
  await repo.git('commit', '-qm', `Change on ${branch}`);
}

/** Runs the CLI and calls `onLine` for each line of output as it comes, e.g. to send a signal at the right moment. */
export function pipelineWatching(args, { cwd, env }, onLine) {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const watch = (chunk) => {
    output += chunk;
    for (const line of String(chunk).split('\n')) if (line) onLine(line, child);
  };
  child.stdout.on('data', watch);
  child.stderr.on('data', watch);
  return new Promise((resolvePromise) => child.on('close', (code, signal) => resolvePromise({ code, signal, output })));
}

/** The deploy user's home on world host i (0-based): the host's own filesystem there. */
export function hostHome(index) {
  return `/var/lib/pipeline-world/h${index + 1}/home`;
}

/** How many SSH logins of the deploy user world host i (0-based) has accepted so far, from its sshd's log. */
export async function sshLogins(index) {
  return ((await readFile(`/var/log/pipeline-world/h${index + 1}-sshd.log`, 'utf8')).match(/Accepted publickey for deploy/g) ?? []).length;
}

/** Runs scripts/world.sh with arguments (e.g. sshd-stop h2). */
export async function worldCommand(...args) {
  await run('bash', [join(ROOT, 'scripts/world.sh'), ...args]);
}

/**
 * What most integration files start from: the world, a fresh clone of the example on develop,
 * its config written as JSON, and no container of the example left on any host.
 */
export async function setUpExample() {
  const world = await loadWorld();
  const repo = await makeRepo();
  await resetHosts(world);
  const config = await writeConfig(repo, worldConfig(world));
  await repo.git('checkout', '-q', 'develop');
  return { world, repo, env: exampleEnv(world), config };
}
