/**
 * Commands run in containers, their output streamed: a one-off container run to its end and removed (a release
 * command, `pipeline exec --new`), and a command run in a running container (`pipeline exec`). With a terminal,
 * the command is interactive: stdin and a TTY attached over the Engine API.
 */
import { type Duplex, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type Docker from 'dockerode';
import { lineBatcher } from '../core/lines.js';
import { StageError } from '../errors.js';

export type OutputStream = 'stdout' | 'stderr';

/** A person's terminal, for an interactive command. */
export interface Terminal {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  size(): { rows: number; columns: number };
  /** Calls `listener` on each resize until the returned function is called. */
  onResize(listener: () => void): () => void;
}

export interface RunIo {
  /** Whole lines of output as they come, a batch at a time (without a terminal). */
  onLines(lines: string, stream: OutputStream): void;
  terminal?: Terminal;
  signal?: AbortSignal;
  /** Bounds the command; past it the container is removed and the run fails. */
  timeoutMs?: number;
  /** Says what runs, in the timeout's message: "release command npm run migrate timed out after 600s". */
  what?: string;
}

/** How long output may still arrive after the command's exit is known. */
const OUTPUT_DRAIN_MS = 5_000;

/**
 * Runs a one-off container to its end, streaming its output, and removes it whatever happens (exit, failure, timeout,
 * signal). Resolves with its exit code; a timeout or the signal rejects.
 */
export async function runOneOff(docker: Docker, spec: Docker.ContainerCreateOptions, io: RunIo): Promise<number> {
  const tty = io.terminal !== undefined;
  const container = await docker.createContainer({
    ...spec,
    Tty: tty,
    OpenStdin: tty,
    StdinOnce: tty,
    AttachStdin: tty,
    AttachStdout: true,
    AttachStderr: true,
  });
  const remove = once(() =>
    container.remove({ force: true }).then(
      () => undefined,
      () => undefined,
    ),
  );
  try {
    const stream = (await container.attach({
      stream: true,
      stdout: true,
      stderr: true,
      ...(tty ? { stdin: true, hijack: true } : {}),
    })) as unknown as Duplex;
    const output = connect(docker, stream, io);
    await container.start();
    const resize = io.terminal ? followSize(io.terminal, (size) => container.resize(size)) : undefined;
    try {
      const { StatusCode } = await bounded(container.wait() as Promise<{ StatusCode: number }>, io, remove);
      await output.drained();
      return StatusCode;
    } finally {
      resize?.();
      output.close();
    }
  } finally {
    await remove();
  }
}

/** Runs a command in a running container, streaming its output; resolves with its exit code. */
export async function execIn(docker: Docker, container: Docker.Container, command: string[], io: RunIo): Promise<number> {
  const tty = io.terminal !== undefined;
  const exec = await container.exec({ Cmd: command, AttachStdin: tty, AttachStdout: true, AttachStderr: true, Tty: tty });
  const stream = (await exec.start({ hijack: true, stdin: tty, Tty: tty })) as unknown as Duplex;
  const output = connect(docker, stream, io);
  const resize = io.terminal ? followSize(io.terminal, (size) => exec.resize(size)) : undefined;
  try {
    // An exec has no end of its own to wait for: its output ends when the command does.
    await bounded(output.ended, io, async () => {
      stream.destroy();
    });
    const { ExitCode } = await exec.inspect();
    return ExitCode ?? 1;
  } finally {
    resize?.();
    output.close();
  }
}

interface Connected {
  ended: Promise<void>;
  drained(): Promise<void>;
  close(): void;
}

/** Hands a container's output to the terminal or to line callbacks, and a terminal's input to the container. */
function connect(docker: Docker, stream: Duplex, io: RunIo): Connected {
  const ended = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  const { terminal } = io;
  if (terminal) {
    // Whole characters only: what is written is masked as text, and a character split between chunks would be lost.
    const decoder = new StringDecoder('utf8');
    stream.on('data', (chunk: Buffer) => terminal.stdout.write(decoder.write(chunk)));
    terminal.stdin.pipe(stream);
    return {
      ended,
      drained: () => drain(ended),
      close: () => {
        terminal.stdin.unpipe(stream);
        stream.destroy();
      },
    };
  }
  const batchers = {
    stdout: lineBatcher((lines) => io.onLines(lines, 'stdout')),
    stderr: lineBatcher((lines) => io.onLines(lines, 'stderr')),
  };
  const sink = (name: OutputStream) =>
    new Writable({
      write(chunk, _encoding, done) {
        batchers[name].write(chunk);
        done();
      },
    });
  docker.modem.demuxStream(stream, sink('stdout'), sink('stderr'));
  const flushed = ended.then(() => {
    batchers.stdout.flush();
    batchers.stderr.flush();
  });
  return { ended: flushed, drained: () => drain(flushed), close: () => stream.destroy() };
}

/** Waits for output to end, for a while: a connection that never closes must not hold up a finished command. */
function drain(ended: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    ended,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, OUTPUT_DRAIN_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** `promise`, unless the timeout passes or the signal comes first: then this rejects saying which, and `stop` runs. */
function bounded<T>(promise: Promise<T>, io: RunIo, stop: () => Promise<void>): Promise<T> {
  const { signal, timeoutMs, what = 'the command' } = io;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const interrupted = new Promise<never>((_, reject) => {
    // Rejected before `stop` runs: what stopping does (a removed container's exit) must not read as the command's end.
    const fail = (message: string) => {
      reject(new StageError(message));
      void stop();
    };
    if (timeoutMs !== undefined) timer = setTimeout(() => fail(`${what} timed out after ${timeoutMs / 1000}s`), timeoutMs);
    onAbort = () => fail('stopped by a signal');
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, interrupted]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  });
}

/** Gives the container the terminal's size now and on every resize; returns the function that stops following. */
function followSize(terminal: Terminal, resize: (size: { h: number; w: number }) => Promise<unknown>): () => void {
  const apply = () => {
    const { rows, columns } = terminal.size();
    resize({ h: rows, w: columns }).catch(() => undefined);
  };
  apply();
  return terminal.onResize(apply);
}

function once<T>(work: () => Promise<T>): () => Promise<T> {
  let done: Promise<T> | undefined;
  return () => (done ??= work());
}
