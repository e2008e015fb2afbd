// Where the latency tail of a proxied deploy's switch comes from: proxied deploys of web (with worker and logstash)
// to h6 under a request loop, each request's latency placed against the deploy's own steps (its --json lines,
// time-stamped as they arrive) and the machine's CPU (/proc) over the same moments.
//
//   node bench/trace-switch.js            # 4 deploys; TRACE_RUNS=n for more; TRACE_LOOP=main runs the request loop
//                                         # in this process's main thread, as bench/lib/proxy.js does, instead of a
//                                         # worker thread of its own
//   TRACE_MODE=isolate node bench/trace-switch.js   # no deploy: each part of a switch alone, under the same loop,
//                                         # in 2 s windows taken in turn (TRACE_RUNS rounds): nothing; the proxy's
//                                         # admin calls of one switch (3 docker execs of wget); a container of the web
//                                         # image started, health-checked and stopped; the same for web and worker
// Needs the benchmark's world (WORLD_HOSTS=8 bash scripts/world.sh up) and a built CLI; hold the world lock.
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import Docker from 'dockerode';
import { requestLoop } from '../test/helpers/load.js';
import { measure } from './lib/measure.js';
import { removeBenchProxy } from './lib/proxy.js';
import { benchConfig, DOCKER, loadWorld, makeRepo, PROJECT, ROOT, removeBenchContainers, writeConfig } from './lib/world.js';

const HOST = 6;
const PORT = 9081;
const RATE = 50;
const STEADY_MS = 5000;
const RUNS = Number(process.env.TRACE_RUNS ?? 4);
const IN_MAIN = process.env.TRACE_LOOP === 'main';
const ISOLATE = process.env.TRACE_MODE === 'isolate';
const WINDOW_MS = 2000;
const CLI = process.env.TRACE_CLI ?? join(ROOT, 'dist/cli/index.js');
const TICKS = 100; // USER_HZ

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const pct = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN;
};
const r1 = (n) => Math.round(n * 10) / 10;

/** The request loop in a thread of its own (its timers and sockets never wait for this thread's work), or in this one. */
function startLoop(url) {
  if (IN_MAIN) return requestLoop(url, { rate: RATE, maxMs: 120_000, timeoutMs: 10_000 });
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import(workerData.module).then(({ requestLoop }) => {
       const loop = requestLoop(workerData.url, { rate: ${RATE}, maxMs: 120_000, timeoutMs: 10_000 });
       parentPort.once('message', async () => { parentPort.postMessage(await loop.stop()); });
     });`,
    { eval: true, workerData: { url, module: join(ROOT, 'test/helpers/load.js') } },
  );
  return {
    stop: () =>
      new Promise((resolve) => {
        worker.once('message', (results) => worker.terminate().then(() => resolve(results)));
        worker.postMessage('stop');
      }),
  };
}

/** Every process's CPU time (ticks) and name, now. */
async function processTimes() {
  const times = new Map();
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const close = stat.lastIndexOf(')');
    if (close < 0) continue;
    const fields = stat.slice(close + 2).split(' ');
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const name = stat.slice(stat.indexOf('(') + 1, close);
    times.set(pid, { name: describe(name, cmd.split('\0')), ticks: Number(fields[11]) + Number(fields[12]) });
  }
  return times;
}

function describe(name, argv) {
  if (name === 'node') {
    if (argv.some((a) => a.endsWith('cli/index.js'))) return 'node: the CLI';
    if (argv.includes('server.js')) return 'node: web (container)';
    if (argv.includes('worker.js')) return 'node: worker (container)';
    return `node: ${argv.slice(1, 3).join(' ').slice(0, 40)}`;
  }
  if (name.startsWith('containerd-shim')) return 'containerd-shim';
  return name;
}

/** The machine's busy share of CPU time between snapshots of /proc/stat, every `everyMs`, until stopped. */
function cpuSampler(everyMs = 50) {
  const samples = [];
  const read = async () => {
    const [cpu] = (await readFile('/proc/stat', 'utf8')).split('\n');
    const f = cpu.split(/\s+/).slice(1).map(Number);
    return { at: Date.now(), idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
  };
  let last;
  let stopped = false;
  const loop = (async () => {
    last = await read();
    while (!stopped) {
      await sleep(everyMs);
      const now = await read();
      const total = now.total - last.total;
      samples.push({ at: now.at, busy: total > 0 ? 1 - (now.idle - last.idle) / total : 0 });
      last = now;
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return samples;
    },
  };
}

/** Runs the CLI; resolves with its exit code and each stdout line with the moment it arrived. */
function deploy(args, { cwd, env }) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [];
    let rest = '';
    child.stdout.on('data', (chunk) => {
      const at = Date.now();
      const parts = (rest + chunk).split('\n');
      rest = parts.pop();
      for (const line of parts) if (line.startsWith('{')) lines.push({ at, event: JSON.parse(line) });
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('close', (code) => resolve({ code, lines, stderr }));
  });
}

/** The deploy's steps during the switch: [moment, what], from its host events and output lines. */
function steps(lines) {
  const marks = [];
  for (const { at, event } of lines) {
    if (event.type === 'host' && event.phase === 'switch') marks.push([Date.parse(event.time), `switch ${event.status}`]);
    if (event.type === 'output' && event.host && event.stage === 'deploy') marks.push([at, event.line.replace(/[0-9a-f]{12,}/g, '…')]);
  }
  const from = marks.find(([, what]) => what === 'switch started')?.[0];
  const to = marks.findLast(([, what]) => what === 'switch success')?.[0];
  return { from, to, marks: marks.filter(([at]) => at >= from && at <= to).sort((a, b) => a[0] - b[0]) };
}

/** Runs a command in a container through the engine, as the pipeline's admin calls do; resolves when it has exited. */
async function execIn(engine, name, cmd) {
  const exec = await engine.getContainer(name).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  stream.resume();
  await new Promise((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
  });
}

/**
 * A container of `image` started beside the running ones, given the time a Node.js service takes to answer (its
 * network is inside the host's namespace, out of this process's reach), then stopped and removed.
 */
async function containerCycle(engine, image, cmd) {
  const created = await engine.createContainer({ Image: image, Cmd: cmd, HostConfig: { NetworkMode: 'pipeline' } });
  await created.start();
  await sleep(500);
  await created.stop({ t: 5 });
  await created.remove({ force: true });
}

/** Each part of a switch alone under the loop: the loop's p99 in windows with that part, against windows with nothing. */
async function isolate(world, host, image) {
  const engine = new Docker({ socketPath: world.socket(HOST) });
  // A configuration POSTed unchanged is a reload only with must-revalidate (else Caddy keeps what runs).
  const admin = (path, post) =>
    execIn(engine, 'pipeline-proxy', [
      'wget',
      '-q',
      '-O',
      '-',
      ...(post ? ['--header', 'Content-Type: application/json', '--header', 'Cache-Control: must-revalidate', '--post-data', post] : []),
      `http://localhost:2019${path}`,
    ]);
  const config = await new Promise((resolve) => {
    let out = '';
    engine
      .getContainer('pipeline-proxy')
      .exec({ Cmd: ['wget', '-q', '-O', '-', 'http://localhost:2019/config/'], AttachStdout: true })
      .then((exec) => exec.start({ hijack: true, stdin: false }))
      .then((stream) => {
        engine.modem.demuxStream(stream, { write: (c) => (out += c) }, { write: () => true });
        stream.on('end', () => resolve(out.trim()));
        stream.on('close', () => resolve(out.trim()));
      });
  });
  const parts = {
    nothing: async () => {},
    'admin calls (GET /config/, POST /config/, GET upstreams)': async () => {
      await admin('/config/');
      await admin('/config/', config);
      await admin('/reverse_proxy/upstreams');
    },
    'POST /config/ alone (Caddy reloads its configuration)': () => admin('/config/', config),
    'a web container: start, 500 ms, stop': () => containerCycle(engine, image, ['node', 'server.js']),
    'web and worker containers at once': () =>
      Promise.all([containerCycle(engine, image, ['node', 'server.js']), containerCycle(engine, image, ['node', 'worker.js'])]),
  };
  const windows = Object.fromEntries(Object.keys(parts).map((name) => [name, []]));
  const loop = startLoop(`http://${host}:${PORT}/health`);
  await sleep(1000);
  const spans = [];
  for (let round = 0; round < RUNS; round++) {
    for (const [name, part] of Object.entries(parts)) {
      const from = Date.now();
      await part();
      const rest = WINDOW_MS - (Date.now() - from);
      if (rest > 0) await sleep(rest);
      spans.push({ name, from, to: Date.now() });
      await sleep(300); // a gap, so that one part's tail does not land in the next window
    }
  }
  const requests = (await loop.stop()).filter((r) => !r.error);
  for (const { name, from, to } of spans) windows[name].push(...requests.filter((r) => r.at >= from && r.at < to).map((r) => r.ms));
  const base = pct(windows.nothing, 99);
  console.log(
    `\nisolated parts, ${RUNS} windows of ${WINDOW_MS} ms each, ${RATE} requests/s; loop in ${IN_MAIN ? 'the main thread' : 'a worker thread'}`,
  );
  for (const [name, values] of Object.entries(windows))
    console.log(
      `  ${name.padEnd(58)} ${String(values.length).padStart(4)} requests  p50 ${String(r1(pct(values, 50))).padStart(5)}  p99 ${String(r1(pct(values, 99))).padStart(5)}  max ${String(r1(Math.max(...values))).padStart(5)}  p99/nothing ${r1(pct(values, 99) / base)}`,
    );
}

async function main() {
  const world = await loadWorld();
  const host = world.host(HOST);
  const docker = (...args) => new Promise((resolve) => spawn(DOCKER, ['-H', `unix://${world.socket(HOST)}`, ...args]).on('close', resolve));
  const repo = await makeRepo();
  const env = { ...process.env, CI: '', CIRCLECI: '' };
  const config = benchConfig(world, { context: repo.work, environments: { one: { web: [HOST], worker: [HOST] } } });
  config.project = `${PROJECT}-proxy`;
  config.proxy = { image: world.caddyImage };
  config.services.web = { ...config.services.web, ports: [`${PORT}:8000`], proxy: true };
  const file = await writeConfig(repo.dir, config, 'trace.json');
  const tags = ['trace-a', 'trace-b'];
  try {
    for (const tag of tags) {
      await repo.newRevision();
      const built = await measure(['node', CLI, 'run', '--skip', 'test', '--branch', tag, '--config', file], { cwd: repo.work, env });
      if (built.code !== 0) throw new Error(`building ${tag} failed:\n${built.output.slice(-2000)}`);
    }
    const warm = await deploy(['deploy', 'one', '--docker-tag', tags[0], '--json', '--config', file], { cwd: repo.work, env });
    if (warm.code !== 0) throw new Error(`warm-up failed:\n${warm.stderr}`);
    if (ISOLATE) return await isolate(world, host, `${config.image}:${tags[0]}`);
    const pooled = { steady: [], during: [] };
    for (let run = 1; run <= RUNS; run++) {
      const loop = startLoop(`http://${host}:${PORT}/health`);
      await sleep(STEADY_MS);
      const deployedAt = Date.now();
      const cpu = cpuSampler();
      const before = await processTimes();
      const result = await deploy(['deploy', 'one', '--docker-tag', tags[run % 2], '--json', '--config', file], { cwd: repo.work, env });
      const after = await processTimes();
      const busy = await cpu.stop();
      const requests = await loop.stop();
      if (result.code !== 0) throw new Error(`deploy ${run} failed:\n${result.stderr}`);
      const { from, to, marks } = steps(result.lines);
      const ok = requests.filter((r) => !r.error);
      const steady = ok.filter((r) => r.at < deployedAt).map((r) => r.ms);
      const during = ok.filter((r) => r.at >= from && r.at <= to);
      pooled.steady.push(...steady);
      pooled.during.push(...during.map((r) => r.ms));
      const p50 = pct(steady, 50);
      const p99 = pct(steady, 99);
      console.log(
        `\nrun ${run}: switch ${to - from} ms, ${during.length} requests in it, ${requests.length - ok.length} failed; steady p50 ${r1(p50)} p99 ${r1(p99)} ms; switch p99 ${r1(
          pct(
            during.map((r) => r.ms),
            99,
          ),
        )} ms`,
      );
      console.log('  step (ms from the switch start)                                    requests  p50   max   CPU busy');
      const bounds = [...marks.map(([at]) => at), to + 1];
      for (let i = 0; i < marks.length; i++) {
        const [at, what] = marks[i];
        const inStep = during.filter((r) => r.at >= at && r.at < bounds[i + 1]).map((r) => r.ms);
        const cpuIn = busy.filter((s) => s.at >= at && s.at < bounds[i + 1] + 50).map((s) => s.busy);
        const share = cpuIn.length ? `${Math.round((cpuIn.reduce((a, b) => a + b, 0) / cpuIn.length) * 100)}%` : '';
        console.log(
          `  +${String(at - from).padStart(5)} ${what.slice(0, 60).padEnd(60)} ${String(inStep.length).padStart(4)} ${String(r1(pct(inStep, 50))).padStart(5)} ${String(r1(Math.max(...inStep, 0))).padStart(5)}   ${share}`,
        );
      }
      const slow = during.filter((r) => r.ms > 2 * p99).sort((a, b) => b.ms - a.ms);
      for (const r of slow.slice(0, 6)) {
        const last = marks.findLast(([at]) => at <= r.at);
        console.log(`  slow: ${r1(r.ms)} ms at +${r.at - from} ms (${r.at - last[0]} ms after "${last[1].slice(0, 50)}")`);
      }
      const cpuBy = new Map();
      for (const [pid, { name, ticks }] of after) {
        const spent = ticks - (before.get(pid)?.ticks ?? 0);
        if (spent > 0) cpuBy.set(name, (cpuBy.get(name) ?? 0) + spent);
      }
      const top = [...cpuBy].sort((a, b) => b[1] - a[1]).slice(0, 10);
      console.log(
        `  CPU during the deploy (${Math.round((Date.now() - deployedAt) / 100) / 10} s): ${top.map(([n, t]) => `${n} ${Math.round((t * 1000) / TICKS)} ms`).join(', ')}`,
      );
    }
    const p99 = { steady: pct(pooled.steady, 99), during: pct(pooled.during, 99) };
    console.log(
      `\npooled: steady p99 ${r1(p99.steady)} ms (${pooled.steady.length}), switch p99 ${r1(p99.during)} ms (${pooled.during.length}): ${r1(p99.during / p99.steady)}×; loop in ${IN_MAIN ? 'the main thread' : 'a worker thread'}`,
    );
  } finally {
    await removeBenchContainers(world, [HOST]);
    await removeBenchProxy(docker);
    await repo.cleanup();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
