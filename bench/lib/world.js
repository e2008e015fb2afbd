// The test world as the benchmark uses it: settings, hosts, temp git repos, pipeline configs, SSH log counts, cleanup.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { readWorldEnv } from '../../test/helpers/world-env.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BENCH = join(ROOT, 'bench');
export const EXAMPLE = join(ROOT, 'examples/shopping-tool');
/** Debian's client, matching the world's 20.10 engines (a newer one may come first in PATH). */
export const DOCKER = '/usr/bin/docker';
export const PROJECT = 'bench';
export const WEB_PORT = 9080;
const SSHD_LOG = (i) => `/var/log/pipeline-world/h${i}-sshd.log`;
const run = promisify(execFile);

/** The world's settings (scripts/world.sh writes them); hosts are 1-based like h1..hN. */
export async function loadWorld() {
  const { vars, ...world } = await readWorldEnv('WORLD_HOSTS=8 bash scripts/world.sh up');
  return {
    ...world,
    /** Address of host hN. */
    host: (n) => world.hosts[n - 1],
    socket: (n) => `/run/pipeline-world/h${n}/docker.sock`,
  };
}

/** The image the benchmark builds and pushes (its own repository, apart from the tests' allume/shopping-tool). */
export function benchImage(world, name = 'shopping-tool') {
  return `${world.registry}/${PROJECT}/${name}`;
}

/**
 * The example's configuration (as test/helpers/world.js writes it) for project `bench`, web on port 9080, with the
 * safety steps on: health check of web, settle time of worker, lock, digest checks. `environments` maps a name to
 * { web: [host numbers], worker: [host numbers], branches }.
 */
export function benchConfig(world, { image = benchImage(world), context, environments, test = ['node', '--test'] }) {
  return {
    project: PROJECT,
    image,
    registry: { server: world.registry, username: world.username, password: world.password },
    build: { context, dockerfile: 'Dockerfile', args: { BASE_IMAGE: world.nodeImage } },
    test: { command: test, env: { CI: 'true' } },
    ssh: { user: world.sshUser, identityFile: world.sshKey, knownHosts: world.knownHosts },
    environments: Object.fromEntries(
      Object.entries(environments).map(([name, env]) => [
        name,
        {
          on: { branches: env.branches ?? [] },
          defaultTag: env.defaultTag ?? 'master',
          hosts: { web: env.web.map(world.host), worker: env.worker.map(world.host) },
          env: { APP_ENV: name },
        },
      ]),
    ),
    services: {
      web: {
        roles: ['web'],
        command: ['node', 'server.js'],
        ports: [`${WEB_PORT}:8000`],
        healthcheck: { http: { path: '/health', port: 8000 }, interval: '500ms', retries: 20 },
        stopGracePeriod: '5s',
      },
      worker: { roles: ['worker'], command: ['node', 'worker.js'], env: { QUEUE: 'default' }, stopGracePeriod: '5s' },
      logstash: { roles: ['web', 'worker'], image: world.logstashImage, redeploy: false },
    },
  };
}

export async function writeConfig(dir, config, name = 'pipeline.config.json') {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

/** A git repository (with a bare origin) holding `source` (the example app by default), committed on master. */
export async function makeRepo(source = EXAMPLE, { prefix = 'pipeline-bench-' } = {}) {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const work = join(dir, 'work');
  await cp(source, work, { recursive: true, filter: (src) => !src.includes('node_modules') });
  const git = (...args) => run('git', args, { cwd: work, maxBuffer: 1 << 24 });
  await git('init', '-q', '-b', 'master');
  await git('config', 'user.email', 'bench@example.com');
  await git('config', 'user.name', 'Bench');
  await git('add', '-A');
  await git('commit', '-qm', 'Benchmark app');
  let revision = 0;
  return {
    dir,
    work,
    git,
    /** A new commit that changes the app (so the next build makes a new image layer, as a real change does). */
    async newRevision() {
      revision += 1;
      const file = join(work, 'app.js');
      const text = (await readFile(file, 'utf8')).replace(/\n\/\/ bench revision .*$/s, '');
      await writeFile(file, `${text}\n// bench revision ${revision} ${Date.now()}\n`);
      await git('commit', '-qam', `Revision ${revision}`);
      return (await git('rev-parse', 'HEAD')).stdout.trim();
    },
    async sha() {
      return (await git('rev-parse', 'HEAD')).stdout.trim();
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Successful SSH logins of the deploy user on host hN so far (sshd's log only grows while the host lives). */
export async function sshLogins(n) {
  const text = await readFile(SSHD_LOG(n), 'utf8').catch(() => '');
  let count = 0;
  for (let at = text.indexOf('Accepted publickey for '); at !== -1; at = text.indexOf('Accepted publickey for ', at + 1)) count += 1;
  return count;
}

export async function sshLoginCounts(hostNumbers) {
  return Object.fromEntries(await Promise.all(hostNumbers.map(async (n) => [n, await sshLogins(n)])));
}

/** Which of h1..hN the world has up (its env file lists them and each has a docker socket). */
export async function hostsUp(world) {
  const up = [];
  for (let n = 1; n <= world.hosts.length; n += 1) {
    if (
      await stat(world.socket(n)).then(
        () => true,
        () => false,
      )
    )
      up.push(n);
  }
  return up;
}

/** Removes every container of project `bench` (current and kept releases, logstash) from hosts hN. */
export async function removeBenchContainers(world, hostNumbers) {
  await Promise.all(
    hostNumbers.map(async (n) => {
      const docker = (...args) =>
        run(DOCKER, ['-H', `unix://${world.socket(n)}`, ...args]).then(
          (r) => r.stdout,
          () => '',
        );
      const ids = (await docker('ps', '-aq', '--filter', `name=^/${PROJECT}-`)).split('\n').filter(Boolean);
      if (ids.length > 0) await docker('rm', '-f', ...ids);
      // Lock folders of the bench's environments in the deploy user's home (left only by a killed run); never the tests' locks.
      const locks = `/var/lib/pipeline-world/h${n}/home/.pipeline/locks`;
      const names = await readdir(locks).catch(() => []);
      await Promise.all(
        names.filter((name) => name.startsWith(`${PROJECT}-`)).map((name) => rm(join(locks, name), { recursive: true, force: true })),
      );
    }),
  );
}

/** Runner-engine images of the benchmark's repositories, removed at the end. */
export async function removeBenchImages() {
  const { stdout } = await run(DOCKER, ['images', '--format', '{{.Repository}}:{{.Tag}}']).catch(() => ({ stdout: '' }));
  const refs = stdout.split('\n').filter((ref) => ref.includes(`/${PROJECT}/`) || ref.startsWith(`${PROJECT}-`));
  if (refs.length > 0) await run(DOCKER, ['rmi', '-f', ...refs]).catch(() => undefined);
}
