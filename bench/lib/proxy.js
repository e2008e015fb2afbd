// Benchmark 6: a proxied deploy under load, side by side with the same deploy without the proxy.
import { failures, requestLoop } from '../../test/helpers/load.js';
import { measure, median, ratio, rotations, round } from './measure.js';
import { benchConfig, PROJECT, writeConfig } from './world.js';

/** Both variants deploy web, worker and logstash to this host: the plain one on port 9080, the proxied one on 9081. */
export const PROXY_HOST = 6;
const PROXIED_PROJECT = `${PROJECT}-proxy`;
const PROXIED_PORT = 9081;
const RATE = 50;
const STEADY_MS = 5000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The switch phase of the deploy, from its --json host events: [started, ended] in ms since the epoch. */
function switchWindow(output) {
  const events = output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => {
      try {
        return JSON.parse(line);
      } catch {
        return undefined;
      }
    })
    .filter((e) => e?.type === 'host' && e.phase === 'switch');
  const at = (status) => events.filter((e) => e.status === status).map((e) => Date.parse(e.time));
  return [Math.min(...at('started')), Math.max(...at('success'))];
}

/**
 * `pipeline deploy` of web (proxied: served by the host's Caddy) alternating with the same deploy of a plain web, each
 * with a request loop of RATE requests/s against its port from STEADY_MS before the deploy until it ends. Reports the
 * failed requests of each, the p99 latency while the proxied deploy switches against the steady state before it, and
 * the deploy times.
 */
export async function benchProxy({ world, cli, repo, reps, env, log, row }) {
  const host = world.host(PROXY_HOST);
  const environments = { one: { web: [PROXY_HOST], worker: [PROXY_HOST] } };
  const plainConfig = benchConfig(world, { context: repo.work, environments });
  const proxiedConfig = benchConfig(world, { context: repo.work, environments });
  proxiedConfig.project = PROXIED_PROJECT;
  proxiedConfig.proxy = { image: world.caddyImage };
  proxiedConfig.services.web = { ...proxiedConfig.services.web, ports: [`${PROXIED_PORT}:8000`], proxy: true };
  const files = {
    plain: await writeConfig(repo.dir, plainConfig, 'proxy-plain.json'),
    proxied: await writeConfig(repo.dir, proxiedConfig, 'proxy-proxied.json'),
  };
  const ports = { plain: 9080, proxied: PROXIED_PORT };
  const tags = ['proxy-a', 'proxy-b'];
  for (const tag of tags) {
    await repo.newRevision();
    const built = await measure(['node', cli, 'run', '--skip', 'test', '--branch', tag, '--config', files.plain], { cwd: repo.work, env });
    if (built.code !== 0) throw new Error(`building ${tag} failed (exit ${built.code}):\n${built.output.slice(-3000)}`);
  }
  let turn = 0;
  const deploy = (name, tag) =>
    measure(['node', cli, 'deploy', 'one', '--docker-tag', tag, '--json', '--config', files[name]], { cwd: repo.work, env });
  log('proxy: warm-up deploys (the first proxied one starts the proxy; not measured)');
  for (const name of ['plain', 'proxied']) {
    const warm = await deploy(name, tags[0]);
    if (warm.code !== 0) throw new Error(`warm-up ${name} deploy failed (exit ${warm.code}):\n${warm.output.slice(-3000)}`);
  }
  const samples = { plain: [], proxied: [] };
  const runs = [];
  for (const order of rotations(['plain', 'proxied'], reps)) {
    for (const name of order) {
      const tag = tags[++turn % 2];
      const loop = requestLoop(`http://${host}:${ports[name]}/health`, { rate: RATE, maxMs: 120_000, timeoutMs: 10_000 });
      await sleep(STEADY_MS);
      const deployedAt = Date.now();
      const result = await deploy(name, tag);
      const requests = await loop.stop();
      if (result.code !== 0) throw new Error(`proxy: ${name} deploy failed (exit ${result.code}):\n${result.output.slice(-3000)}`);
      const [from, to] = switchWindow(result.output);
      const latencies = (list) => list.filter((r) => !r.error).map((r) => r.ms);
      const steady = latencies(requests.filter((r) => r.at < deployedAt));
      const during = latencies(requests.filter((r) => r.at >= from && r.at <= to));
      const record = {
        variant: name,
        tag,
        ms: round(result.ms, 1),
        requests: requests.length,
        failed: failures(requests).length,
        latencies: { steady, during },
        p99Ms: { steady: round(percentile(steady, 99), 1), switch: round(percentile(during, 99), 1) },
        switchMs: round(to - from, 0),
        requestsDuringSwitch: during.length,
      };
      runs.push(record);
      samples[name].push(record.ms);
      log(
        `proxy: ${name} ${round(result.ms / 1000, 2)} s, ${record.failed} of ${record.requests} requests failed, p99 ${record.p99Ms.steady} ms steady, ${record.p99Ms.switch} ms during the switch`,
      );
    }
  }
  const medians = { plain: median(samples.plain), proxied: median(samples.proxied) };
  const proxied = runs.filter((r) => r.variant === 'proxied');
  const plain = runs.filter((r) => r.variant === 'plain');
  const failed = Math.max(...proxied.map((r) => r.failed));
  // Pooled over the runs: one run's few seconds hold too few requests for a steady p99.
  const p99 = {
    steady: round(
      percentile(
        proxied.flatMap((r) => r.latencies.steady),
        99,
      ),
      1,
    ),
    switch: round(
      percentile(
        proxied.flatMap((r) => r.latencies.during),
        99,
      ),
      1,
    ),
  };
  for (const r of runs) delete r.latencies;
  const latency = ratio(p99.switch, p99.steady);
  const time = ratio(medians.proxied, medians.plain);
  return {
    repetitions: reps,
    host: `h${PROXY_HOST}`,
    requestsPerSecond: RATE,
    mediansMs: medians,
    ratios: { 'proxied deploy / plain deploy': time, 'p99 during the switch / steady': latency },
    failedRequests: { proxied: proxied.map((r) => r.failed), plain: plain.map((r) => r.failed) },
    p99Ms: p99,
    runs,
    rows: [
      row(
        '6 proxy',
        'failed requests during a proxied deploy (most of any run)',
        failed,
        '0',
        failed === 0,
        `without the proxy: ${plain.map((r) => r.failed).join(', ')} of ~${Math.round(median(plain.map((r) => r.requests)))}`,
      ),
      row(
        '6 proxy',
        'p99 latency during the switch / steady state',
        latency,
        '≤ 2×',
        latency <= 2,
        `${p99.switch} vs ${p99.steady} ms (all runs' requests), ${RATE} requests/s`,
      ),
      row(
        '6 proxy',
        'proxied `pipeline deploy` / the same without the proxy',
        time,
        '≤ 1.2×',
        time <= 1.2,
        `${round(medians.proxied / 1000, 2)} s vs ${round(medians.plain / 1000, 2)} s`,
      ),
    ],
  };
}

/** Removes the proxy's container (and lock), volume and network from the bench's host (the bench's containers go with its project's). */
export async function removeBenchProxy(docker) {
  await docker('rm', '-f', 'pipeline-proxy', 'pipeline-proxy-lock');
  await docker('volume', 'rm', 'pipeline-proxy-config');
  await docker('network', 'rm', 'pipeline');
}
