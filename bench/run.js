#!/usr/bin/env node
// npm run bench: the runner's cost measured side by side with the work it drives, on the test world.
// Each comparison alternates its variants (the order rotates every repetition) and reports medians and ratios.
// BENCH_QUICK=1: a smoke run (one repetition, smaller inputs, 1 and 2 hosts). BENCH_ONLY=startup,pipeline,scaling,streaming,proxy,
// cache,upload runs some of the benchmarks (retry is measured with pipeline). Only a full run writes bench/results.json; quick and
// partial runs write bench/results-quick.json. See bench/README.md.
import { execFile } from 'node:child_process';
import { access, cp, mkdir, mkdtemp, open, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { NO_CI } from '../test/helpers/world.js';
import { engineWorkAlone } from './lib/floor.js';
import { measure, median, ratio, rotations, round, TIME } from './lib/measure.js';
import { benchProxy, PROXY_HOST, removeBenchProxy } from './lib/proxy.js';
import {
  BENCH,
  benchConfig,
  benchImage,
  DOCKER,
  hostsUp,
  loadWorld,
  makeRepo,
  PROJECT,
  ROOT,
  removeBenchContainers,
  removeBenchImages,
  sshLoginCounts,
  writeConfig,
} from './lib/world.js';

const run = promisify(execFile);
const QUICK = process.env.BENCH_QUICK === '1';
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((s) => s.trim()) : undefined;
const REPS = QUICK
  ? { startup: 3, pipeline: 1, scaling: 1, streaming: 1, proxy: 1, cache: 1, upload: 1 }
  : { startup: 11, pipeline: 3, scaling: 3, streaming: 3, proxy: 3, cache: 3, upload: 3 };
// BENCH_SCALE=1,5,8 chooses the sizes of benchmark 3 (of 1, 2, 5 and 8).
const SCALE_SIZES = process.env.BENCH_SCALE ? process.env.BENCH_SCALE.split(',').map(Number) : QUICK ? [1, 2] : [1, 5, 8];
/** Hosts of each scaling size: h6..h8 are the bench's own; h5 and then h1..h4 (the tests' hosts, other ports and names) fill up to 8. */
const SCALE_HOSTS = { 1: [6], 2: [6, 7], 5: [4, 5, 6, 7, 8], 8: [1, 2, 3, 4, 5, 6, 7, 8] };
/** The targets of the deploy against the serial hand-written script, by size, and of the runner's time over the floor. */
const SERIAL_TARGET = { 5: 0.35, 8: 0.4 };
const OVER_FLOOR_TARGET_MS = 300;
/** The whole pipeline deploys web to h6 and worker to h7. */
const PIPELINE_HOSTS = { web: [6], worker: [7] };
const OUTPUT_MB = QUICK ? 20 : 200;
const CONTEXT_MB = QUICK ? { kept: 5, ignored: 45 } : { kept: 50, ignored: 450 };
const RSS_TARGET_KB = 150 * 1024;
const RESULTS = join(BENCH, QUICK || ONLY ? 'results-quick.json' : 'results.json');

const log = (line) => process.stderr.write(`bench: ${line}\n`);
const secs = (ms) => `${round(ms / 1000, 2)} s`;

/**
 * The environment of every child: no CI variables (the branch comes from git), the default Docker engine, and no
 * NODE_OPTIONS or NODE_EXTRA_CA_CERTS (a CA bundle read at every node start adds ~70 ms to `node -e 0` as much as
 * to the CLI, which would hide the CLI's own start-up cost in the ratio).
 */
function childEnv(extra = {}) {
  const env = { ...process.env, ...NO_CI, ...extra };
  for (const name of ['DOCKER_HOST', 'DOCKER_CONTEXT', 'NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS']) delete env[name];
  return env;
}

// ------------------------------------------------------------------------------------------------ set-up checks

async function preflight(world) {
  const problems = [];
  for (const [file, fix] of [
    [TIME, 'apt-get install -y time'],
    [DOCKER, "apt-get install -y docker.io (Debian's client, as scripts/world.sh installs it)"],
    ['/usr/bin/ssh', 'apt-get install -y openssh-client'],
    ['/usr/bin/curl', 'apt-get install -y curl (used on the hosts by the hand-written baseline)'],
    [join(ROOT, 'dist/cli/index.js'), 'npm run build'],
  ]) {
    if (
      !(await access(file).then(
        () => true,
        () => false,
      ))
    )
      problems.push(`${file} is missing: ${fix}`);
  }
  const up = await hostsUp(world);
  const needed = [...new Set([...Object.values(PIPELINE_HOSTS).flat(), ...SCALE_SIZES.flatMap((n) => SCALE_HOSTS[n]), PROXY_HOST])].sort(
    (a, b) => a - b,
  );
  const missing = needed.filter((n) => !up.includes(n));
  if (missing.length > 0)
    problems.push(
      `the test world lacks host(s) ${missing.map((n) => `h${n}`).join(', ')}: run \`WORLD_HOSTS=8 bash scripts/world.sh up\` (it adds hosts and leaves h1..h5 alone)`,
    );
  if (problems.length > 0) throw new Error(`cannot run the benchmark:\n  ${problems.join('\n  ')}`);
}

/**
 * The CLI measured: a copy of dist/ taken now, so that a rebuild by someone working in the tree during the
 * benchmark (tsc rewrites dist/) cannot change or break the runs half-way. It resolves packages from the tree.
 */
async function snapshotCli(dir) {
  const root = join(dir, 'cli');
  await mkdir(root, { recursive: true });
  await cp(join(ROOT, 'dist'), join(root, 'dist'), { recursive: true });
  await cp(join(ROOT, 'package.json'), join(root, 'package.json'));
  await symlink(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  return join(root, 'dist/cli/index.js');
}

// ------------------------------------------------------------------------------------------------ evidence helpers

/** Top-level stage durations as the simple renderer prints them ("✔ [12:00:00] build: ... [4s]"). */
function stageDurations(output) {
  const stages = {};
  // biome-ignore lint/suspicious/noControlCharactersInRegex: colour codes start with ESC.
  for (const line of output.replace(/\x1b\[[0-9;]*m/g, '').split('\n')) {
    const match = /^✔ \[[\d:]+\] (checkout|build|test|push|resolve|deploy)\b.*\[([\d.]+m?s(?: [\d.]+s)?)\]\s*$/.exec(line);
    if (match) stages[match[1]] = match[2];
  }
  return stages;
}

/** Phase durations the baseline prints to stderr ("baseline: build 3120 ms"). */
function baselinePhases(output) {
  return Object.fromEntries([...output.matchAll(/^baseline: (\S+) (\d+) ms$/gm)].map((m) => [m[1], Number(m[2])]));
}

/** Runner-engine events of the bench's images and containers between two instants (seconds since the epoch). */
async function engineWork(since, until, image) {
  const { stdout } = await run(DOCKER, ['events', '--since', String(since), '--until', String(until), '--format', '{{json .}}'], {
    maxBuffer: 1 << 26,
  });
  const events = stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
  const ours = (name = '') => name.startsWith(`${image}:`) || name.startsWith(`${image}@`) || name === image;
  return {
    builds: events.filter((e) => e.Type === 'image' && e.Action === 'tag' && ours(e.Actor?.Attributes?.name)).length,
    pushes: events.filter((e) => e.Type === 'image' && e.Action === 'push' && ours(e.Actor?.Attributes?.name)).length,
    containers: events.filter(
      (e) =>
        e.Type === 'container' &&
        e.Action === 'create' &&
        (e.Actor?.Attributes?.['pipeline.project'] === PROJECT || ours(e.Actor?.Attributes?.image)),
    ).length,
  };
}

const REGISTRY_LOG = '/var/log/pipeline-world/registry.log';

async function fileSize(path) {
  return (await stat(path).catch(() => ({ size: 0 }))).size;
}

/** Uploads (blob and manifest writes) to the bench's registry repositories logged since byte `from` of the registry's log. */
async function registryUploads(from, repository) {
  const handle = await open(REGISTRY_LOG, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const size = (await handle.stat()).size;
    const buffer = Buffer.alloc(Math.max(0, size - from));
    await handle.read(buffer, 0, buffer.length, from);
    const pattern = new RegExp(`"(?:PUT|POST|PATCH) /v2/${repository.replace(/[/.]/g, '\\$&')}/`, 'g');
    return (buffer.toString('utf8').match(pattern) ?? []).length;
  } finally {
    await handle.close();
  }
}

function sshDelta(before, after) {
  return Object.fromEntries(Object.keys(after).map((n) => [`h${n}`, after[n] - before[n]]));
}

// ------------------------------------------------------------------------------------------------ 1. start-up

async function benchStartup(cli) {
  const variants = {
    'node -e 0': ['node', '-e', '0'],
    'pipeline --version': ['node', cli, '--version'],
    'pipeline --help': ['node', cli, '--help'],
  };
  const samples = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  const env = childEnv();
  for (const argv of Object.values(variants)) await measure(argv, { env }); // warm the page cache
  for (const order of rotations(Object.keys(variants), REPS.startup)) {
    for (const name of order) {
      const result = await measure(variants[name], { env, cwd: tmpdir() });
      if (result.code !== 0) throw new Error(`${name} exited ${result.code}: ${result.output}`);
      samples[name].push(round(result.ms, 1));
    }
  }
  const medians = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]));
  const versionRatio = ratio(medians['pipeline --version'], medians['node -e 0']);
  const helpRatio = ratio(medians['pipeline --help'], medians['node -e 0']);
  return {
    repetitions: REPS.startup,
    samplesMs: samples,
    mediansMs: medians,
    ratios: { 'pipeline --version / node -e 0': versionRatio, 'pipeline --help / node -e 0': helpRatio },
    rows: [
      row(
        '1 start-up',
        '`pipeline --version` / `node -e 0`',
        versionRatio,
        '≤ 1.5×',
        versionRatio <= 1.5,
        `${Math.round(medians['pipeline --version'])} vs ${Math.round(medians['node -e 0'])} ms`,
      ),
      row(
        '1 start-up',
        '`pipeline --help` / `node -e 0`',
        helpRatio,
        '≤ 1.5×',
        helpRatio <= 1.5,
        `${Math.round(medians['pipeline --help'])} vs ${Math.round(medians['node -e 0'])} ms`,
      ),
    ],
  };
}

// ------------------------------------------------------------------------------------------------ 2 and 5. whole pipeline, retry

function baselineEnv(world, { repo, sha, tag = 'master', image = benchImage(world), web, worker, noWaits = false }) {
  return childEnv({
    NO_WAITS: noWaits ? '1' : '',
    IMAGE: image,
    TAG: tag,
    SHA: sha ?? '',
    CONTEXT: repo?.work ?? '',
    REGISTRY: world.registry,
    REGISTRY_USER: world.username,
    REGISTRY_PASSWORD: world.password,
    SSH_USER: world.sshUser,
    SSH_KEY: world.sshKey,
    KNOWN_HOSTS: world.knownHosts,
    WEB_HOSTS: web.map(world.host).join(' '),
    WORKER_HOSTS: worker.map(world.host).join(' '),
    PROJECT,
    WEB_PORT: '9080',
    APP_ENV: 'bench',
    LOGSTASH_IMAGE: world.logstashImage,
    BASE_IMAGE: world.nodeImage,
  });
}

async function benchPipeline(world, cli, repo, configFile) {
  const image = benchImage(world);
  const deployHosts = [...new Set([...PIPELINE_HOSTS.web, ...PIPELINE_HOSTS.worker])];
  const variants = {
    /** The whole pipeline of a new commit. */
    pipeline: async () => {
      await repo.newRevision();
      return measure(['node', cli, 'run', '--config', configFile], { cwd: repo.work, env: childEnv() });
    },
    /** The same by hand: docker CLI, then host after host over OpenSSH, waiting for each service as the pipeline does. */
    baseline: async () => {
      const sha = await repo.newRevision();
      return measure(['bash', join(BENCH, 'baseline.sh'), 'all'], {
        cwd: repo.work,
        env: baselineEnv(world, { repo, sha, ...PIPELINE_HOSTS }),
      });
    },
    /** The documented process as the seed's fabfile ran it: no health check, no settle time. */
    'no waits': async () => {
      const sha = await repo.newRevision();
      return measure(['bash', join(BENCH, 'baseline.sh'), 'all'], {
        cwd: repo.work,
        env: baselineEnv(world, { repo, sha, ...PIPELINE_HOSTS, noWaits: true }),
      });
    },
    /** The retry of the deploy of the commit last pushed: no build, test or push. */
    retry: async () => measure(['node', cli, 'run', '--only', 'deploy', '--config', configFile], { cwd: repo.work, env: childEnv() }),
  };
  log('pipeline: warm-up runs (hosts get the base image and logstash; not measured)');
  for (const name of QUICK ? ['pipeline'] : ['pipeline', 'baseline']) {
    const result = await variants[name]();
    if (result.code !== 0) throw new Error(`warm-up ${name} failed (exit ${result.code}):\n${result.output.slice(-3000)}`);
  }
  const samples = { pipeline: [], baseline: [], 'no waits': [], retry: [] };
  const runs = [];
  for (const order of rotations(Object.keys(variants), REPS.pipeline)) {
    for (const name of order) {
      const logins = await sshLoginCounts(deployHosts);
      const registryFrom = await fileSize(REGISTRY_LOG);
      const since = Math.floor(Date.now() / 1000);
      const result = await variants[name]();
      const until = Math.ceil(Date.now() / 1000) + 1;
      if (result.code !== 0) throw new Error(`${name} failed (exit ${result.code}):\n${result.output.slice(-3000)}`);
      const record = { variant: name, ms: round(result.ms, 1), sshConnections: sshDelta(logins, await sshLoginCounts(deployHosts)) };
      if (name === 'baseline' || name === 'no waits') record.phasesMs = baselinePhases(result.output);
      else record.stages = stageDurations(result.output);
      if (name === 'retry') {
        record.work = {
          ...(await engineWork(since, until, image)),
          registryUploads: await registryUploads(registryFrom, `${PROJECT}/shopping-tool`),
        };
        record.work.stagesRun = Object.keys(record.stages).filter((stage) => ['build', 'test', 'push'].includes(stage));
      }
      samples[name].push(record.ms);
      runs.push(record);
      log(`pipeline: ${name} ${secs(result.ms)}`);
    }
  }
  const medians = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]));
  const overhead = ratio(medians.pipeline, medians.baseline);
  const noWaits = ratio(medians.pipeline, medians['no waits']);
  const retryRatio = ratio(medians.retry, medians.pipeline);
  const retries = runs.filter((r) => r.variant === 'retry');
  const work = {
    builds: Math.max(...retries.map((r) => r.work.builds)),
    pushes: Math.max(...retries.map((r) => r.work.pushes)),
    testContainers: Math.max(...retries.map((r) => r.work.containers)),
    registryUploads: Math.max(...retries.map((r) => r.work.registryUploads ?? 0)),
    stagesRun: [...new Set(retries.flatMap((r) => r.work.stagesRun))],
  };
  const noWork =
    work.builds === 0 && work.pushes === 0 && work.testContainers === 0 && work.registryUploads === 0 && work.stagesRun.length === 0;
  const connections = runs.filter((r) => r.variant === 'pipeline' || r.variant === 'retry').flatMap((r) => Object.values(r.sshConnections));
  return {
    pipeline: {
      repetitions: REPS.pipeline,
      hosts: { web: PIPELINE_HOSTS.web.map((n) => `h${n}`), worker: PIPELINE_HOSTS.worker.map((n) => `h${n}`) },
      samplesMs: { pipeline: samples.pipeline, baseline: samples.baseline, 'no waits': samples['no waits'] },
      mediansMs: { pipeline: medians.pipeline, baseline: medians.baseline, 'no waits': medians['no waits'] },
      ratios: { 'pipeline run / baseline.sh all': overhead, 'pipeline run / NO_WAITS=1 baseline.sh all': noWaits },
      sshConnectionsPerHostPerRun: { pipeline: Math.max(...connections) },
      runs: runs.filter((r) => r.variant !== 'retry'),
      rows: [
        row(
          '2 whole pipeline',
          '`pipeline run` (2 hosts) / by hand with the same waits',
          overhead,
          '≤ 0.8×',
          overhead <= 0.8,
          `${secs(medians.pipeline)} vs ${secs(medians.baseline)}`,
        ),
        row(
          '2 whole pipeline',
          '`pipeline run` (2 hosts) / by hand without waits (the fabfile)',
          noWaits,
          '≤ 1.0×',
          noWaits <= 1.0,
          `${secs(medians.pipeline)} vs ${secs(medians['no waits'])}`,
        ),
      ],
    },
    retry: {
      repetitions: REPS.pipeline,
      samplesMs: { retry: samples.retry, pipeline: samples.pipeline },
      mediansMs: { retry: medians.retry, pipeline: medians.pipeline },
      ratios: { 'run --only deploy / run': retryRatio },
      workDuringRetry: work,
      runs: retries,
      rows: [
        row(
          '5 retry',
          'work done by `run --only deploy` (builds, test containers, pushes, registry uploads)',
          `${work.builds}, ${work.testContainers}, ${work.pushes}, ${work.registryUploads}`,
          'none',
          noWork,
          '',
        ),
        row(
          '5 retry',
          '`run --only deploy` / `run`',
          retryRatio,
          '(no target)',
          undefined,
          `${secs(medians.retry)} vs ${secs(medians.pipeline)}`,
        ),
      ],
    },
  };
}

// ------------------------------------------------------------------------------------------------ 3. scaling with hosts

async function benchScaling(world, cli, repo, configFile) {
  // Two releases to switch between, so every measured deploy replaces the running containers with another image.
  const tags = ['scale-a', 'scale-b'];
  for (const tag of tags) {
    await repo.newRevision();
    const result = await measure(['node', cli, 'run', '--skip', 'test', '--branch', tag, '--config', configFile], {
      cwd: repo.work,
      env: childEnv(),
    });
    if (result.code !== 0) throw new Error(`building ${tag} failed (exit ${result.code}):\n${result.output.slice(-3000)}`);
  }
  const largest = SCALE_SIZES.at(-1);
  const serialSizes = SCALE_SIZES.filter((n) => n > 1);
  let turn = 0;
  const nextTag = () => tags[turn++ % 2];
  const image = benchImage(world);
  const variants = Object.fromEntries([
    ...SCALE_SIZES.map((n) => [
      `pipeline ${n}`,
      (tag) =>
        measure(['node', cli, 'deploy', `scale${n}`, '--docker-tag', tag, '--config', configFile, '--json'], {
          cwd: repo.work,
          env: childEnv(),
          keepAll: true,
        }),
    ]),
    ...serialSizes.map((n) => [
      `baseline ${n}`,
      (tag) =>
        measure(['bash', join(BENCH, 'baseline.sh'), 'deploy'], {
          cwd: repo.work,
          env: baselineEnv(world, { tag, web: SCALE_HOSTS[n], worker: SCALE_HOSTS[n] }),
        }),
    ]),
    ...SCALE_SIZES.map((n) => [
      `engine ${n}`,
      (tag) =>
        engineWorkAlone(world, SCALE_HOSTS[n], image, tag).then(
          (ms) => ({ ms, code: 0, output: '' }),
          (error) => ({ ms: 0, code: 1, output: error.message }),
        ),
    ]),
  ]);
  log(`scaling: warm-up deploys to ${largest} hosts (not measured)`);
  for (const tag of QUICK ? tags.slice(0, 1) : tags) {
    const warm = await variants[`pipeline ${largest}`](tag);
    if (warm.code !== 0) throw new Error(`warm-up deploy failed (exit ${warm.code}):\n${warm.output.slice(-3000)}`);
  }
  const samples = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  const runs = [];
  // SSH logins are counted on h6..h8 only: the integration tests may log in to h1..h5 at any time.
  const countedHosts = [6, 7, 8];
  for (const order of rotations(Object.keys(variants), REPS.scaling)) {
    for (const name of order) {
      const size = Number(name.split(' ')[1]);
      const tag = nextTag();
      const logins = await sshLoginCounts(countedHosts);
      const result = await variants[name](tag);
      if (result.code !== 0) throw new Error(`${name} failed (exit ${result.code}):\n${result.output.slice(-3000)}`);
      const record = { variant: name, tag, ms: round(result.ms, 1) };
      if (!name.startsWith('engine')) {
        const delta = sshDelta(logins, await sshLoginCounts(countedHosts));
        record.sshConnections = delta;
        record.sshConnectionsPerDeployedHost = countedHosts.filter((n) => SCALE_HOSTS[size].includes(n)).map((n) => delta[`h${n}`]);
      }
      if (name.startsWith('baseline')) record.phasesMs = baselinePhases(result.output);
      if (name.startsWith('pipeline')) record.phasesMs = deployPhases(result);
      runs.push(record);
      samples[name].push(record.ms);
      log(`scaling: ${name} host(s) ${secs(result.ms)}`);
    }
  }
  const medians = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]));
  const one = medians['pipeline 1'];
  const big = medians[`pipeline ${largest}`];
  const scale = ratio(big, one);
  const floorScale = ratio(medians[`engine ${largest}`], medians['engine 1']);
  const vsBaseline = Object.fromEntries(serialSizes.map((n) => [n, ratio(medians[`pipeline ${n}`], medians[`baseline ${n}`])]));
  const overFloor = Object.fromEntries(SCALE_SIZES.map((n) => [n, round(medians[`pipeline ${n}`] - medians[`engine ${n}`], 0)]));
  const perHost = (prefix) => runs.filter((r) => r.variant.startsWith(prefix)).flatMap((r) => r.sshConnectionsPerDeployedHost);
  const pipelineConnections = Math.max(...perHost('pipeline'));
  const baselineConnections = Math.max(...perHost('baseline'));
  const sizes = (prefix) => SCALE_SIZES.map((n) => `${n}: ${secs(medians[`${prefix} ${n}`])}`).join(', ');
  const rows = [
    row('3 scaling', `time(${largest} hosts) / time(1 host)`, scale, '≤ 1.5', scale <= 1.5, sizes('pipeline')),
    row(
      '3 scaling',
      '  the same, engine work alone (the floor)',
      floorScale,
      '(reference)',
      undefined,
      `${sizes('engine')}; the runner adds ${SCALE_SIZES.map((n) => `${n}: +${secs(medians[`pipeline ${n}`] - medians[`engine ${n}`])}`).join(', ')}`,
    ),
    ...serialSizes.map((n) =>
      row(
        '3 scaling',
        `\`pipeline deploy\` / serial hand-written, ${n} hosts`,
        vsBaseline[n],
        SERIAL_TARGET[n] ? `≤ ${SERIAL_TARGET[n]}×` : '(no target)',
        SERIAL_TARGET[n] ? vsBaseline[n] <= SERIAL_TARGET[n] : undefined,
        `${secs(medians[`pipeline ${n}`])} vs ${secs(medians[`baseline ${n}`])}`,
      ),
    ),
    ...serialSizes.map((n) =>
      row(
        '3 scaling',
        `the runner's time over the engine floor, ${n} hosts`,
        `${secs(overFloor[n])}`,
        `≤ ${secs(OVER_FLOOR_TARGET_MS)}`,
        overFloor[n] <= OVER_FLOOR_TARGET_MS,
        `${secs(medians[`pipeline ${n}`])} vs ${secs(medians[`engine ${n}`])}`,
      ),
    ),
    row(
      '3 scaling',
      'SSH connections per host per deploy',
      pipelineConnections,
      '1',
      pipelineConnections === 1,
      `hand-written: ${baselineConnections}`,
    ),
  ];
  return {
    repetitions: REPS.scaling,
    services: 'web, worker and logstash on every host',
    hosts: Object.fromEntries(SCALE_SIZES.map((n) => [n, SCALE_HOSTS[n].map((h) => `h${h}`)])),
    samplesMs: samples,
    mediansMs: medians,
    ratios: {
      [`pipeline time(${largest}) / time(1)`]: scale,
      [`engine work alone time(${largest}) / time(1)`]: floorScale,
      ...Object.fromEntries(serialSizes.map((n) => [`pipeline ${n} / baseline ${n}`, vsBaseline[n]])),
    },
    runnerAboveEngineWorkMs: overFloor,
    /** Medians of where each `pipeline deploy` spent its time (deployPhases). */
    deployPhasesMs: Object.fromEntries(
      SCALE_SIZES.map((n) => {
        const own = runs.filter((r) => r.variant === `pipeline ${n}`);
        return [n, Object.fromEntries(Object.keys(own[0]?.phasesMs ?? {}).map((key) => [key, median(own.map((r) => r.phasesMs[key]))]))];
      }),
    ),
    sshConnectionsPerHostPerDeploy: {
      pipeline: pipelineConnections,
      baseline: baselineConnections,
      countedOn: countedHosts.map((n) => `h${n}`),
    },
    runs,
    rows,
  };
}

/**
 * Where a `pipeline deploy --json` spent its wall time: before the deploy stage started (start-up, config, connecting),
 * each phase from its first member's start to its last member's end (the gaps between phases are the gates), and
 * after the stage ended (closing, exit).
 */
function deployPhases({ output, startedAt, ms }) {
  const events = output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
  const stage = events.filter((e) => e.type === 'stage' && e.stage === 'deploy');
  const begin = Date.parse(stage.find((e) => e.status === 'started')?.time);
  const end = Date.parse(stage.find((e) => e.status !== 'started')?.time);
  const phases = {};
  for (const e of events.filter((e) => e.type === 'host' && e.status !== 'started' && e.durationMs !== undefined)) {
    const stop = Date.parse(e.time);
    const span = phases[e.phase] ?? { from: stop - e.durationMs, to: stop };
    phases[e.phase] = { from: Math.min(span.from, stop - e.durationMs), to: Math.max(span.to, stop) };
  }
  return {
    beforeDeploy: begin - startedAt,
    ...Object.fromEntries(Object.entries(phases).map(([phase, { from, to }]) => [phase, to - from])),
    deployStage: end - begin,
    afterDeploy: startedAt + ms - end,
  };
}

// ------------------------------------------------------------------------------------------------ 4. streaming

async function benchStreaming(world, cli, work) {
  const result = { output: undefined, context: undefined, rows: [] };
  const app = (name) => join(BENCH, 'apps', name);
  const smallConfig = (repo, image, test) => ({
    ...benchConfig(world, { image, context: repo.work, environments: {}, test }),
    services: { app: { roles: ['app'] } },
  });

  // a. A test command printing OUTPUT_MB of lines.
  {
    const repo = await makeRepo(app('loud'));
    work.repos.push(repo);
    const image = benchImage(world, 'loud');
    const config = await writeConfig(repo.dir, smallConfig(repo, image, ['node', 'print.js', String(OUTPUT_MB)]));
    const built = await measure(['node', cli, 'run', '--only', 'build', '--config', config], { cwd: repo.work, env: childEnv() });
    if (built.code !== 0) throw new Error(`building the loud app failed:\n${built.output.slice(-3000)}`);
    const sha = await repo.sha();
    const variants = {
      pipeline: () =>
        measure(['node', cli, 'run', '--only', 'test', '--config', config], { cwd: repo.work, env: childEnv(), rss: true, sink: 'null' }),
      'docker run': () =>
        measure([DOCKER, 'run', '--rm', '-e', 'CI=true', `${image}:${sha}`, 'node', 'print.js', String(OUTPUT_MB)], {
          env: childEnv(),
          rss: true,
          sink: 'null',
        }),
    };
    result.output = await compareStreaming('output', variants);
    result.output.megabytes = OUTPUT_MB;
  }

  // b. A build context of CONTEXT_MB.kept + CONTEXT_MB.ignored MB, the ignored part left out by .dockerignore.
  {
    const repo = await makeRepo(app('bigctx'));
    work.repos.push(repo);
    log(`streaming: writing and committing a ${CONTEXT_MB.kept + CONTEXT_MB.ignored} MB build context (not measured)`);
    for (const [folder, mb] of Object.entries(CONTEXT_MB)) {
      await mkdir(join(repo.work, folder), { recursive: true });
      for (let i = 0; i < mb / 10; i += 1) {
        await run('head', ['-c', '10M', '/dev/urandom'], { encoding: 'buffer', maxBuffer: 11 << 20 }).then(({ stdout }) =>
          writeFile(join(repo.work, folder, `part-${i}.bin`), stdout),
        );
      }
    }
    await repo.git('add', '-A');
    await repo.git('commit', '-qm', 'Large context');
    const sha = await repo.sha();
    const image = benchImage(world, 'bigctx');
    const config = await writeConfig(repo.dir, smallConfig(repo, image, ['true']));
    const labels = [
      '--label',
      `org.opencontainers.image.revision=${sha}`,
      '--label',
      `pipeline.commit=${sha}`,
      '--label',
      'pipeline.branch=master',
    ];
    const variants = {
      pipeline: () => measure(['node', cli, 'run', '--only', 'build', '--config', config], { cwd: repo.work, env: childEnv(), rss: true }),
      'docker build': () =>
        measure([DOCKER, 'build', '-t', `${image}:master`, '-t', `${image}:${sha}`, ...labels, '.'], {
          cwd: repo.work,
          env: childEnv(),
          rss: true,
        }),
    };
    // The first build of each makes the 50 MB layer; the measured ones send the whole context and hit the cache, as a rebuild of an unchanged tree does.
    for (const variant of Object.values(variants)) {
      const warm = await variant();
      if (warm.code !== 0) throw new Error(`warm-up build failed:\n${warm.output.slice(-3000)}`);
    }
    result.context = await compareStreaming('context', variants);
    result.context.megabytes = { total: CONTEXT_MB.kept + CONTEXT_MB.ignored, excludedByDockerignore: CONTEXT_MB.ignored };
  }

  const { output, context } = result;
  const baselineName = (r) => Object.keys(r.mediansMs).find((name) => name !== 'pipeline');
  for (const [r, label] of [
    [output, `test printing ${OUTPUT_MB} MB`],
    [context, `${CONTEXT_MB.kept + CONTEXT_MB.ignored} MB context, ${CONTEXT_MB.ignored} MB ignored`],
  ]) {
    const other = baselineName(r);
    const wall = r.ratios[`pipeline / ${other}`];
    result.rows.push(
      row(
        '4 streaming',
        `${label}: runner peak RSS`,
        `${Math.round(r.peakRssKb.pipeline / 1024)} MB`,
        '≤ 150 MB',
        r.peakRssKb.pipeline <= RSS_TARGET_KB,
        `${other}: ${Math.round(r.peakRssKb[other] / 1024)} MB`,
      ),
    );
    result.rows.push(
      row(
        '4 streaming',
        `${label}: wall time / \`${other}\``,
        wall,
        '≤ 1.2×',
        wall <= 1.2,
        `${secs(r.mediansMs.pipeline)} vs ${secs(r.mediansMs[other])}`,
      ),
    );
  }
  return result;
}

async function compareStreaming(label, variants) {
  const samples = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  const rss = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  for (const order of rotations(Object.keys(variants), REPS.streaming)) {
    for (const name of order) {
      const result = await variants[name]();
      if (result.code !== 0) throw new Error(`${label}: ${name} failed (exit ${result.code}):\n${result.output.slice(-3000)}`);
      samples[name].push(round(result.ms, 1));
      rss[name].push(result.rssKb);
      log(`streaming ${label}: ${name} ${secs(result.ms)}, peak RSS ${Math.round(result.rssKb / 1024)} MB`);
    }
  }
  const names = Object.keys(variants);
  const medians = Object.fromEntries(names.map((name) => [name, median(samples[name])]));
  return {
    repetitions: REPS.streaming,
    samplesMs: samples,
    mediansMs: medians,
    peakRssKbSamples: rss,
    peakRssKb: Object.fromEntries(names.map((name) => [name, Math.max(...rss[name])])),
    ratios: { [`pipeline / ${names[1]}`]: ratio(medians.pipeline, medians[names[1]]) },
  };
}

// ------------------------------------------------------------------------------------------------ 6. a fresh machine: the build cache

/** Removes every image of a repository from the runner's engine, by id, with the parent layers only they use: a fresh CI machine. */
async function freshEngine(image) {
  const ids = async () =>
    (await run(DOCKER, ['images', '--filter', `reference=${image}`, '--format', '{{.ID}}'])).stdout.split('\n').filter(Boolean);
  const found = [...new Set(await ids())];
  if (found.length > 0) await run(DOCKER, ['rmi', '-f', ...found]).catch(() => undefined);
  if ((await ids()).length > 0) throw new Error(`the runner's engine still has images of ${image}`);
}

/** Whether the build's slow step (the app's `RUN sleep 8`) ran or came from a cache, as the build output says. */
function slowStep(output) {
  const at = output.indexOf('RUN sleep 8');
  if (at === -1) return 'absent';
  return /^[^\n]*\n[^\n]*Using cache/.test(output.slice(at)) ? 'cached' : 'ran';
}

async function benchCache(world, cli, work) {
  const repo = await makeRepo(join(BENCH, 'apps', 'deps'));
  work.repos.push(repo);
  const image = benchImage(world, 'deps');
  const base = {
    ...benchConfig(world, { image, context: repo.work, environments: {}, test: ['node', 'test.js'] }),
    services: { app: { roles: ['app'] } },
  };
  const cached = await writeConfig(repo.dir, base, 'cache.config.json');
  const uncached = await writeConfig(repo.dir, { ...base, build: { ...base.build, cache: false } }, 'nocache.config.json');
  const runWith = async (config) => {
    await repo.newRevision();
    return measure(['node', cli, 'run', '--config', config], { cwd: repo.work, env: childEnv() });
  };
  const variants = {
    /** The runner's engine has the branch's last image: its layers are the cache, as on a laptop. */
    warm: () => runWith(cached),
    /** None of the app's images: the cache comes from the registry. */
    'fresh, cache': async () => {
      await freshEngine(image);
      return runWith(cached);
    },
    'fresh, no cache': async () => {
      await freshEngine(image);
      return runWith(uncached);
    },
  };
  log('cache: warm-up run (pushes master, not measured)');
  const warm = await runWith(cached);
  if (warm.code !== 0) throw new Error(`warm-up run failed (exit ${warm.code}):\n${warm.output.slice(-3000)}`);
  const samples = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  const runs = [];
  for (const order of rotations(Object.keys(variants), REPS.cache)) {
    for (const name of order) {
      const result = await variants[name]();
      if (result.code !== 0) throw new Error(`cache: ${name} failed (exit ${result.code}):\n${result.output.slice(-3000)}`);
      runs.push({
        variant: name,
        ms: round(result.ms, 1),
        stages: stageDurations(result.output),
        slowStep: slowStep(result.output),
        cacheLines: result.output
          .split('\n')
          .filter((line) => line.includes('cache:'))
          .map((line) => line.replace(/^.*?cache: /, 'cache: '))
          .slice(0, 6),
      });
      samples[name].push(round(result.ms, 1));
      log(`cache: ${name} ${secs(result.ms)} (slow step ${runs.at(-1).slowStep})`);
    }
  }
  const medians = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]));
  const over = medians['fresh, cache'] - medians.warm;
  const overUncached = medians['fresh, no cache'] - medians.warm;
  return {
    cache: {
      repetitions: REPS.cache,
      app: 'bench/apps/deps (an 8 s dependency layer)',
      samplesMs: samples,
      mediansMs: medians,
      freshOverWarmMs: { cache: round(over, 0), noCache: round(overUncached, 0) },
      runs,
      rows: [
        row(
          '7 fresh machine',
          'run with the registry cache − warm run',
          `+${secs(over)}`,
          '≤ +4 s',
          over <= 4000,
          `${secs(medians['fresh, cache'])} vs ${secs(medians.warm)}`,
        ),
        row(
          '7 fresh machine',
          '  the same without the cache (`build.cache: false`)',
          `+${secs(overUncached)}`,
          '(reference)',
          undefined,
          `${secs(medians['fresh, no cache'])}`,
        ),
      ],
    },
  };
}

// ------------------------------------------------------------------------------------------------ 7. uploading while the tests run: what each way costs

/**
 * The ways of getting a tested image to the registry without tagging it first, measured on a new build of the example
 * app (as benchmark 2 builds it): the engine's push by tag (what the push stage did after the tests); the engine's push
 * through the runner's proxy, by digest (what runs beside the tests now: adapters/upload.ts); and the engine's export of
 * the image (`GET /images/{name}/get`), which a runner uploading the blobs itself would have to read whole before
 * compressing and hashing them: a lower bound of that way.
 */
async function benchUpload(world, cli, repo, configFile) {
  const dist = join(cli, '..', '..');
  const [{ pushImage }, { uploadByDigest }, { RegistryClient }, { default: Dockerode }] = await Promise.all([
    import(join(dist, 'adapters/docker.js')),
    import(join(dist, 'adapters/upload.js')),
    import(join(dist, 'adapters/registry.js')),
    import('dockerode'),
  ]);
  const docker = new Dockerode();
  const image = benchImage(world);
  const auth = { username: world.username, password: world.password, serveraddress: world.registry };
  const build = async () => {
    await repo.newRevision();
    const built = await measure(['node', cli, 'run', '--only', 'build', '--branch', 'upload', '--config', configFile], {
      cwd: repo.work,
      env: childEnv(),
    });
    if (built.code !== 0) throw new Error(`building failed:\n${built.output.slice(-3000)}`);
    return (await docker.getImage(`${image}:upload`).inspect()).Id;
  };
  const timed = async (work) => {
    const started = process.hrtime.bigint();
    await work();
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, code: 0 };
  };
  const variants = {
    'push by tag': async () => {
      await build();
      return timed(() => pushImage(docker, image, 'upload', auth, () => {}));
    },
    'upload by digest': async () => {
      const id = await build();
      return timed(() =>
        uploadByDigest(docker, id, new RegistryClient(`http://${world.registry}`, `${PROJECT}/shopping-tool`, auth), () => {}),
      );
    },
    'export the image': async () => {
      await build();
      return timed(async () => {
        const stream = await docker.getImage(`${image}:upload`).get();
        for await (const chunk of stream) void chunk;
      });
    },
  };
  const samples = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  for (const order of rotations(Object.keys(variants), REPS.upload)) {
    for (const name of order) {
      samples[name].push(round((await variants[name]()).ms, 1));
      log(`upload: ${name} ${secs(samples[name].at(-1))}`);
    }
  }
  const medians = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, median(values)]));
  const size = (await docker.getImage(`${image}:upload`).inspect()).Size;
  return {
    upload: {
      repetitions: REPS.upload,
      imageBytes: size,
      samplesMs: samples,
      mediansMs: medians,
      rows: [
        row(
          '8 upload',
          'engine push by tag (after the tests, on the critical path)',
          secs(medians['push by tag']),
          '(reference)',
          undefined,
          '',
        ),
        row(
          '8 upload',
          'engine push through the proxy, by digest (beside the tests)',
          secs(medians['upload by digest']),
          '(reference)',
          undefined,
          'then two manifest PUTs after the tests',
        ),
        row(
          '8 upload',
          'engine export of the image, to upload blobs from the runner',
          secs(medians['export the image']),
          '(reference)',
          undefined,
          `${Math.round(size / 1e6)} MB read; compressing and hashing come on top`,
        ),
      ],
    },
  };
}

// ------------------------------------------------------------------------------------------------ table

function row(benchmark, measure_, value, target, met, detail) {
  return { benchmark, measure: measure_, value, target, met, detail };
}

function formatTable(rows) {
  const cells = rows.map((r) => [
    r.benchmark,
    r.measure,
    typeof r.value === 'number' ? String(r.value) : r.value,
    r.target,
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
    r.detail,
  ]);
  const header = ['benchmark', 'measure', 'value', 'target', 'met', 'medians / detail'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c) =>
    c
      .map((text, i) => text.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

// ------------------------------------------------------------------------------------------------ main

async function main() {
  const started = Date.now();
  const world = await loadWorld();
  await preflight(world);
  const work = { dir: await mkdtemp(join(tmpdir(), 'pipeline-bench-run-')), repos: [] };
  const allHosts = [...new Set([...Object.values(PIPELINE_HOSTS).flat(), ...SCALE_SIZES.flatMap((n) => SCALE_HOSTS[n])])];
  let interrupted = false;
  const cleanup = async () => {
    log('cleaning up: bench containers on the hosts, bench images on the runner, temp folders');
    await removeBenchContainers(world, allHosts);
    await removeBenchProxy((...args) => run(DOCKER, ['-H', `unix://${world.socket(PROXY_HOST)}`, ...args]).catch(() => undefined));
    await removeBenchImages();
    for (const repo of work.repos) await repo.cleanup();
    await rm(work.dir, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      interrupted = true;
      log(`${signal}: stopping`);
      cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }

  const cli = await snapshotCli(work.dir);
  const results = {
    generatedAt: new Date().toISOString(),
    quick: QUICK,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      docker: (await run(DOCKER, ['version', '--format', '{{.Server.Version}}'])).stdout.trim(),
    },
    commit: (await run('git', ['rev-parse', 'HEAD'], { cwd: ROOT }).catch(() => ({ stdout: '' }))).stdout.trim(),
    srcChanged: (await run('git', ['status', '--porcelain', 'src'], { cwd: ROOT }).catch(() => ({ stdout: '' }))).stdout.trim() !== '',
    benchmarks: {},
    errors: {},
  };
  const wanted = (name) => !ONLY || ONLY.includes(name);
  const section = async (name, fn) => {
    if (!wanted(name) || interrupted) return;
    const t = Date.now();
    log(`${name}: starting`);
    try {
      Object.assign(results.benchmarks, await fn());
    } catch (error) {
      // `npm test` (its pretest runs world.sh up with 5 hosts) removes h6..h8: say so rather than leave a puzzle.
      const up = await hostsUp(world);
      const gone = allHosts.filter((n) => !up.includes(n));
      const message =
        gone.length === 0
          ? error.message
          : `host(s) ${gone.map((n) => `h${n}`).join(', ')} went away during the run (did \`npm test\` run \`world.sh up\` with 5 hosts? run \`WORLD_HOSTS=8 bash scripts/world.sh up\`): ${error.message}`;
      log(`${name}: FAILED: ${message}`);
      results.errors[name] = message;
    }
    log(`${name}: done in ${secs(Date.now() - t)}`);
  };

  try {
    await removeBenchContainers(world, allHosts);
    await section('startup', async () => ({ startup: await benchStartup(cli) }));
    let repo;
    let configFile;
    if (wanted('pipeline') || wanted('scaling') || wanted('upload') || wanted('proxy')) {
      repo = await makeRepo();
      work.repos.push(repo);
      const environments = {
        bench: { branches: ['master'], ...PIPELINE_HOSTS },
        ...Object.fromEntries(SCALE_SIZES.map((n) => [`scale${n}`, { web: SCALE_HOSTS[n], worker: SCALE_HOSTS[n] }])),
      };
      configFile = await writeConfig(repo.dir, benchConfig(world, { context: repo.work, environments }));
    }
    await section('pipeline', () => benchPipeline(world, cli, repo, configFile));
    await section('scaling', async () => ({ scaling: await benchScaling(world, cli, repo, configFile) }));
    await section('streaming', async () => ({ streaming: await benchStreaming(world, cli, work) }));
    await section('cache', () => benchCache(world, cli, work));
    await section('upload', () => benchUpload(world, cli, repo, configFile));
    await section('proxy', async () => ({
      proxy: await benchProxy({ world, cli, repo, reps: REPS.proxy, env: childEnv(), log, row }),
    }));
  } finally {
    if (!interrupted) await cleanup();
  }

  const rows = Object.values(results.benchmarks).flatMap((b) => b.rows ?? []);
  for (const [name, message] of Object.entries(results.errors)) rows.push(row(name, 'FAILED', message.split('\n')[0], '', false, ''));
  results.table = rows;
  results.allTargetsMet = rows.every((r) => r.met !== false);
  results.durationSeconds = Math.round((Date.now() - started) / 1000);
  await writeFile(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\n${formatTable(rows)}\n\n`);
  log(
    `${results.allTargetsMet ? 'every target met' : 'some targets not met (see bench/README.md for what bounds them)'}; ${QUICK ? 'quick run; ' : ''}results in ${relative(ROOT, RESULTS)} (${results.durationSeconds} s)`,
  );
  return Object.keys(results.errors).length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    log(error.message);
    process.exitCode = 1;
  },
);
