/** Reading a log from the Engine (a container's, a swarm service's): whole, or followed line by line until it ends or the signal. */
import { Writable } from 'node:stream';
import type Docker from 'dockerode';
import type { OutputStream } from '../adapters/container-run.js';
import { lineBatcher } from '../core/lines.js';
import { demuxFrames, type LogLine, timestampedLines } from '../core/logs.js';
import type { LogsRequest } from './target.js';

/** The Engine's log options of a request: both streams, with timestamps. */
export type LogOptions = { stdout: true; stderr: true; timestamps: true; follow: boolean; since?: number; tail?: number };

/** Reads what `open` answers (a multiplexed log: a buffer, or a stream when following), each line with the Engine's timestamp. */
export async function readEngineLogs(
  docker: Docker,
  open: (options: LogOptions) => Promise<unknown>,
  request: LogsRequest,
  onLine: (line: LogLine) => void,
): Promise<void> {
  const options = {
    stdout: true,
    stderr: true,
    timestamps: true,
    ...(request.since !== undefined ? { since: request.since } : {}),
    ...(request.tail !== undefined ? { tail: request.tail } : {}),
  } as const;
  if (!request.follow) {
    const buffer = (await open({ ...options, follow: false })) as Buffer;
    for (const frame of demuxFrames(buffer)) timestampedLines(frame.text, frame.stream).forEach(onLine);
    return;
  }
  const stream = (await open({ ...options, follow: true })) as NodeJS.ReadableStream & { destroy(): void };
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
