import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { ServicePlan } from '../core/plan.js';
import { withTimeout } from '../core/time.js';
import { StageError } from '../errors.js';
import type { OpenTcp } from './ports.js';

export interface HealthOptions {
  openTcp: OpenTcp;
  log: (line: string) => void;
  sleep: (ms: number) => Promise<void>;
  signal?: AbortSignal;
}

/**
 * Waits until a new container is healthy: its `healthcheck` (an HTTP GET to the
 * container's port, made from the host, or a command run in the container),
 * else the image's own Docker HEALTHCHECK, else it must still be running after
 * its start period. Throws naming the service and the last health output.
 */
export async function waitHealthy(docker: Docker, container: Docker.Container, plan: ServicePlan, options: HealthOptions): Promise<void> {
  const check = plan.healthcheck;
  await options.sleep(check ? check.startPeriod : plan.startPeriodMs);
  // A failed check is retried every SETTLE_POLL_MS, so a service is seen healthy as soon as it is, but counted
  // against `retries` at most once per interval, and not during the first interval: the time allowed stays
  // about (retries + 1) × interval.
  const every = check ? check.interval : 0;
  let nextCount = Date.now() + every;
  let last = '';
  const attempts = check?.retries ?? 1;
  let info = await container.inspect();
  for (let attempt = 1; attempt <= attempts; attempt += 1) {
    if (!info.State.Running) {
      throw new StageError(`${plan.service}: container exited with code ${info.State.ExitCode}${await logTail(container)}`);
    }
    const verdict = check
      ? await probe(docker, container, info, plan, options).catch((error: Error) => ({ healthy: false, output: error.message }))
      : imageHealth(info);
    if (verdict.healthy === true) return;
    last = verdict.output;
    const counts = verdict.healthy === false && Date.now() >= nextCount;
    if (counts && last) options.log(`${plan.service}: not healthy yet (${attempt}/${attempts}): ${last}`);
    if (options.signal?.aborted) break;
    if (!counts)
      attempt -= 1; // settling, between counted checks, or the image's own HEALTHCHECK still starting (Docker decides)
    else nextCount = Date.now() + every;
    if (counts && attempt === attempts) break;
    await options.sleep(check ? Math.min(SETTLE_POLL_MS, every) : counts ? 1000 : SETTLE_POLL_MS);
    // The quick retries between counted checks only ask the service; whether the container still runs is read
    // before each counted one (and every time for the image's own HEALTHCHECK, which lives in that state).
    if (!check || Date.now() >= nextCount) info = await container.inspect();
  }
  throw new StageError(`${plan.service}: not healthy after ${attempts} check(s)${last ? `: ${last}` : ''}`);
}

const SETTLE_POLL_MS = 200;

type Verdict = { healthy: boolean | 'waiting'; output: string };

/** One look at a running service's health, as a deploy would judge it: for `pipeline status`. */
export async function healthNow(docker: Docker, container: Docker.Container, plan: ServicePlan, openTcp: OpenTcp): Promise<string> {
  const info = await container.inspect();
  if (!info.State.Running) return `${info.State.Status} (exit code ${info.State.ExitCode})`;
  const verdict = plan.healthcheck
    ? await probe(docker, container, info, plan, { openTcp, log: () => {}, sleep: async () => {} }).catch((error: Error) => ({
        healthy: false,
        output: error.message,
      }))
    : imageHealth(info);
  if (verdict.healthy === 'waiting') return 'starting';
  return verdict.healthy ? 'healthy' : `unhealthy${verdict.output ? `: ${verdict.output}` : ''}`;
}

function imageHealth(info: Docker.ContainerInspectInfo): Verdict {
  const health = info.State.Health;
  if (!health) return { healthy: true, output: '' };
  const output = health.Log?.at(-1)?.Output?.trim() ?? '';
  if (health.Status === 'healthy') return { healthy: true, output };
  return health.Status === 'starting'
    ? { healthy: 'waiting', output }
    : { healthy: false, output: `image HEALTHCHECK: ${health.Status}${output ? `: ${output}` : ''}` };
}

async function probe(
  docker: Docker,
  container: Docker.Container,
  info: Docker.ContainerInspectInfo,
  plan: ServicePlan,
  options: HealthOptions,
): Promise<Verdict> {
  const check = plan.healthcheck!;
  const timeoutMs = check.timeout;
  if (check.http) {
    const address = containerAddress(info);
    const status = await httpStatus(
      await withTimeout(options.openTcp(address, check.http.port), timeoutMs, 'connect'),
      check.http.path,
      timeoutMs,
    );
    return { healthy: status >= 200 && status < 300, output: `GET ${check.http.path} answered ${status}` };
  }
  const result = await execInContainer(docker, container, commandOf(check.test!), timeoutMs);
  return {
    healthy: result.code === 0,
    output: `${check.test!.join(' ')} exited ${result.code}${result.output ? `: ${result.output}` : ''}`,
  };
}

/** The container's address on its network, as the host reaches it. */
function containerAddress(info: Docker.ContainerInspectInfo): string {
  const address = Object.values(info.NetworkSettings.Networks ?? {}).find((network) => network.IPAddress)?.IPAddress;
  if (!address) throw new Error('the container has no network address');
  return address;
}

/** Docker Compose's `test` forms: ['CMD', prog, ...args], ['CMD-SHELL', 'script'], or a plain argv. */
function commandOf(test: string[]): string[] {
  if (test[0] === 'CMD') return test.slice(1);
  if (test[0] === 'CMD-SHELL') return ['/bin/sh', '-c', test.slice(1).join(' ')];
  return test;
}

function httpStatus(socket: Duplex, path: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { createConnection: () => socket as never, path, method: 'GET', headers: { host: 'localhost', connection: 'close' } },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
        socket.destroy();
      },
    );
    // http.request leaves `timeout` to createConnection: the socket itself must time out.
    (socket as Duplex & { setTimeout?(ms: number, onTimeout: () => void): void }).setTimeout?.(timeoutMs, () =>
      req.destroy(new Error(`GET ${path} timed out after ${timeoutMs} ms`)),
    );
    req.on('error', (error) => {
      socket.destroy();
      reject(error);
    });
    req.end();
  });
}

async function execInContainer(
  docker: Docker,
  container: Docker.Container,
  command: string[],
  timeoutMs: number,
): Promise<{ code: number; output: string }> {
  const exec = await container.exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  let output = '';
  const sink = {
    write: (chunk: Buffer) => {
      output += chunk.toString();
      return true;
    },
  };
  docker.modem.demuxStream(stream, sink as never, sink as never);
  await withTimeout(
    new Promise((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
    }),
    timeoutMs,
    command.join(' '),
  );
  const { ExitCode } = await exec.inspect();
  return { code: ExitCode ?? -1, output: output.trim().split('\n').slice(-3).join(' | ') };
}

/** The last lines a container printed, for error messages. */
export async function logTail(container: Docker.Container, lines = 5): Promise<string> {
  const buffer = await container.logs({ stdout: true, stderr: true, tail: lines, follow: false }).catch(() => undefined);
  const text = buffer ? demuxText(buffer as unknown as Buffer).trim() : '';
  return text ? `: ${text.split('\n').slice(-lines).join(' | ')}` : '';
}

/** Text of a non-TTY container's multiplexed log buffer (8-byte frame headers). */
function demuxText(buffer: Buffer): string {
  let text = '';
  for (let offset = 0; offset + 8 <= buffer.length; ) {
    const size = buffer.readUInt32BE(offset + 4);
    text += buffer.subarray(offset + 8, offset + 8 + size).toString();
    offset += 8 + size;
  }
  return text;
}
