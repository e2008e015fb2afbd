/** A service's container on one host, looked at and worked in after a deploy: `pipeline logs` and `pipeline exec`. */
import { Writable } from 'node:stream';
import type Docker from 'dockerode';
import { execIn, type OutputStream } from '../../adapters/container-run.js';
import { findContainer } from '../../adapters/service.js';
import { lineBatcher } from '../../core/lines.js';
import { demuxFrames, type LogLine, timestampedLines } from '../../core/logs.js';
import { LABEL_PREFIX, type ServicePlan } from '../../core/plan.js';
import { StageError } from '../../errors.js';
import type { ExecRequest, LogsRequest } from '../target.js';
import { runServiceOneOff } from './one-off.js';

/** The service's container log, each line with the Engine's timestamp; with `follow`, until the container stops or the signal. */
export async function serviceLogs(docker: Docker, svc: ServicePlan, request: LogsRequest, onLine: (line: LogLine) => void): Promise<void> {
  const info = await findContainer(docker, svc.container);
  if (!info) throw new StageError(`${svc.service} is not deployed here`);
  const container = docker.getContainer(info.Id);
  const options = {
    stdout: true,
    stderr: true,
    timestamps: true,
    ...(request.since !== undefined ? { since: request.since } : {}),
    ...(request.tail !== undefined ? { tail: request.tail } : {}),
  };
  if (!request.follow) {
    const buffer = (await container.logs({ ...options, follow: false })) as unknown as Buffer;
    for (const frame of demuxFrames(buffer)) timestampedLines(frame.text, frame.stream).forEach(onLine);
    return;
  }
  const stream = (await container.logs({ ...options, follow: true })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  const sink = (name: OutputStream) => {
    const lines = lineBatcher((text) => timestampedLines(text, name).forEach(onLine));
    return new Writable({
      write(chunk, _encoding, done) {
        lines.write(chunk);
        done();
      },
      final(done) {
        lines.flush();
        done();
      },
    });
  };
  const out = sink('stdout');
  const err = sink('stderr');
  docker.modem.demuxStream(stream, out, err);
  const stop = () => stream.destroy();
  request.signal.addEventListener('abort', stop, { once: true });
  try {
    await new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
  } finally {
    request.signal.removeEventListener('abort', stop);
    out.end();
    err.end();
  }
}

/**
 * Runs a command in the service's running container, or (`oneOff`) in a one-off container of the release it runs,
 * as the service runs; resolves with the command's exit code.
 */
export async function serviceExec(docker: Docker, svc: ServicePlan, request: ExecRequest): Promise<number> {
  const info = await findContainer(docker, svc.container);
  if (!info) throw new StageError(`${svc.service} is not deployed here`);
  const io = { onLines: request.onLines, signal: request.signal, ...(request.terminal ? { terminal: request.terminal } : {}) };
  if (!request.oneOff) {
    if (!info.State.Running) throw new StageError(`${svc.service} is not running here (${info.State.Status})`);
    return execIn(docker, docker.getContainer(info.Id), request.command, io);
  }
  const tag = info.Config.Labels?.[`${LABEL_PREFIX}tag`];
  return runServiceOneOff(
    {
      docker,
      svc,
      image: info.Image,
      command: request.command,
      purpose: 'exec',
      secretEnv: request.secretEnv(svc.secrets),
      labels: tag ? { [`${LABEL_PREFIX}tag`]: tag } : {},
    },
    io,
  );
}
