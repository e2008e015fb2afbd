import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { type Readable, Writable } from 'node:stream';
import type Docker from 'dockerode';
import { lineBatcher } from '../core/lines.js';
import { type LocalEngine, localEngine } from '../core/local-engine.js';
import type { RegistryAuth } from '../core/registry.js';
import { followTransfer } from '../core/transfer.js';
import { StageError } from '../errors.js';

interface ProgressEvent {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Tag?: string; Digest?: string };
}

type UsableEngine = Exclude<LocalEngine, { kind: 'unusable' }>;

/** The engine each client made by localDocker talks to, for checkLocalEngine's message. */
const localEngines = new WeakMap<Docker, UsableEngine>();

/** The runner's own engine, found as its docker CLI finds it (DOCKER_HOST, the docker context, the default socket). */
export async function localDocker(env: NodeJS.ProcessEnv = process.env): Promise<Docker> {
  const engine = usableLocalEngine(env);
  await import('./lazy-dockerode.js');
  const { default: Dockerode } = await import('dockerode');
  // A context with SkipTLSVerify: the agent's option is the one that reaches the TLS connection.
  const insecure =
    engine.kind === 'tcp' && engine.tls?.verify === false
      ? { agent: new (await import('node:https')).Agent({ rejectUnauthorized: false }) }
      : {};
  let docker: Docker;
  try {
    // Every connection setting is given: dockerode would otherwise fill some in from DOCKER_HOST.
    docker =
      engine.kind === 'socket'
        ? new Dockerode({ socketPath: engine.path, host: undefined, protocol: 'http' })
        : new Dockerode({
            host: engine.host,
            port: engine.port,
            protocol: engine.tls ? 'https' : 'http',
            ca: engine.tls?.ca,
            cert: engine.tls?.cert,
            key: engine.tls?.key,
            ...insecure,
          } as Docker.DockerOptions);
  } catch (error) {
    throw new StageError(`cannot use the Docker engine at ${engine.address}, ${engine.from}: ${(error as Error).message}`);
  }
  localEngines.set(docker, engine);
  return docker;
}

/** The address of the runner's engine, as the docker CLI writes it (unix:///var/run/docker.sock). */
export function localEngineAddress(env: NodeJS.ProcessEnv = process.env): string {
  return usableLocalEngine(env).address;
}

/** Fails with one clear line, naming the address and where it came from, when the runner's Docker engine does not answer. */
export async function checkLocalEngine(docker: Docker): Promise<void> {
  try {
    await docker.ping();
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    const { address, from } = localEngines.get(docker) ?? usableLocalEngine(process.env);
    throw new StageError(
      `no Docker engine is reachable at ${address} (${reason}), ${from}: start it (dockerd, Docker Desktop, Colima, OrbStack), or choose another with docker context use or DOCKER_HOST`,
    );
  }
}

/** The engine the docker CLI would use with this environment, read from its config folder; one that cannot be used is a StageError. */
function usableLocalEngine(env: NodeJS.ProcessEnv): UsableEngine {
  const engine = localEngine({ env, home: env.HOME || homedir(), platform: process.platform, read: readIfPresent });
  if (engine.kind === 'unusable') throw new StageError(engine.message);
  return engine;
}

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new StageError(`cannot read ${path} (${code ?? (error as Error).message}), which says which Docker engine to use`);
  }
}

/**
 * Follows a build, push or pull progress stream to its end. The Engine reports
 * failures as events in a successful HTTP response (and dockerode's
 * followProgress does not treat them as errors), so every event is checked.
 */
export function followProgress(
  docker: Docker,
  stream: NodeJS.ReadableStream,
  onEvent: (event: ProgressEvent) => void,
): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) => {
    let failure: string | undefined;
    docker.modem.followProgress(
      stream,
      (error: Error | null, events: ProgressEvent[]) => {
        if (error) reject(error);
        else if (failure !== undefined) reject(new StageError(failure));
        else resolve(events);
      },
      (event: ProgressEvent) => {
        if (event.error !== undefined || event.errorDetail?.message !== undefined)
          failure ??= (event.errorDetail?.message ?? event.error ?? 'unknown error').trim();
        onEvent(event);
      },
    );
  });
}

export interface BuildOptions {
  tags: string[];
  dockerfile: string;
  buildargs: Record<string, string>;
  labels: Record<string, string>;
  /** Images whose layers the build may reuse; the classic builder reads only images the engine has. */
  cachefrom?: string[];
}

/** Builds an image from a context tar, streaming build output in whole lines (see lineBatcher); resolves with the image id. */
export async function buildImage(docker: Docker, tar: Readable, options: BuildOptions, onLines: (lines: string) => void): Promise<string> {
  // Every tag in the one request (`t` repeated): the engine tags the image as the build ends.
  const stream = await docker.buildImage(tar, {
    t: options.tags as never,
    dockerfile: options.dockerfile,
    buildargs: options.buildargs,
    labels: options.labels,
    rm: true,
    forcerm: true,
    ...(options.cachefrom?.length ? { cachefrom: JSON.stringify(options.cachefrom) } : {}),
  });
  const lines = lineBatcher(onLines);
  let imageId: string | undefined;
  await followProgress(docker, stream, (event) => {
    if (event.stream) lines.write(event.stream);
    if (event.aux?.ID) imageId = event.aux.ID;
  })
    .catch((error) => {
      throw new StageError(`docker build failed: ${error.message}`);
    })
    .finally(() => lines.flush());
  return imageId ?? (await docker.getImage(options.tags[0]!).inspect()).Id;
}

export interface RunOptions {
  image: string;
  command: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  signal?: AbortSignal;
  /** Called once the command has exited, before the container is removed: the moment to copy files out of it. */
  afterExit?: (container: Docker.Container) => Promise<void>;
}

/**
 * Runs a command in a new container, streaming its output in whole lines, and always removes
 * the container (also when aborted). Resolves with the exit code.
 */
export async function runToCompletion(docker: Docker, options: RunOptions, onLines: (lines: string) => void): Promise<number> {
  const container = await docker.createContainer({
    Image: options.image,
    Cmd: options.command,
    Env: Object.entries(options.env).map(([key, value]) => `${key}=${value}`),
    Labels: options.labels,
    Tty: false,
  });
  const removeContainer = () => container.remove({ force: true }).catch(() => undefined);
  options.signal?.addEventListener('abort', removeContainer, { once: true });
  try {
    const stream = await container.attach({ stream: true, stdout: true, stderr: true });
    const lines = lineBatcher(onLines);
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.write(chunk);
        done();
      },
    });
    docker.modem.demuxStream(stream, sink, sink);
    const ended = new Promise((resolve) => stream.on('end', resolve));
    await container.start();
    const { StatusCode } = await container.wait();
    await ended;
    lines.flush();
    await options.afterExit?.(container);
    return StatusCode as number;
  } finally {
    options.signal?.removeEventListener('abort', removeContainer);
    await removeContainer();
  }
}

/** A file's text from a container, through the Engine's archive endpoint (works once it has exited); undefined when there is no such file. */
export async function readContainerFile(container: Docker.Container, path: string): Promise<string | undefined> {
  let archive: NodeJS.ReadableStream;
  try {
    archive = await container.getArchive({ path });
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw new StageError(`copying ${path} out of the container failed: ${engineMessage(error)}`);
  }
  const { default: tarStream } = await import('tar-stream');
  const extract = tarStream.extract();
  archive.pipe(extract);
  let text: string | undefined;
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    // The archive of a file holds that file; of a folder, the folder first: only a file is read.
    if (entry.header.type === 'file') text ??= Buffer.concat(chunks).toString('utf8');
  }
  return text;
}

/**
 * Pushes one tag of a repository (never every local tag); resolves with the pushed digest. `onLine` hears the bytes
 * sent at a bounded rate (core/transfer.ts) and the digest, never each layer's every event.
 */
export async function pushImage(
  docker: Docker,
  repo: string,
  tag: string,
  auth: RegistryAuth | undefined,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<string | undefined> {
  const stream = await (docker
    .getImage(`${repo}:${tag}`)
    .push({ tag, authconfig: auth, ...(signal ? { abortSignal: signal } : {}) } as never) as unknown as Promise<NodeJS.ReadableStream>);
  let digest: string | undefined;
  const transfer = followTransfer((line) => onLine(`pushing: ${line}`));
  await followProgress(docker, stream, (event) => {
    if (event.aux?.Digest) digest = event.aux.Digest;
    transfer.event(event);
  }).catch((error) => {
    throw new StageError(`push of ${repo}:${tag} failed: ${error.message}`);
  });
  transfer.end();
  return digest;
}

/** Pulls an image with the given credentials (sent with this pull only); `onLine` hears its progress at a bounded rate. */
export async function pullImage(
  docker: Docker,
  ref: string,
  auth: RegistryAuth | undefined,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  let stream: NodeJS.ReadableStream;
  try {
    stream = await (docker.pull(ref, {
      ...(auth ? { authconfig: auth } : {}),
      ...(signal ? { abortSignal: signal } : {}),
    }) as Promise<NodeJS.ReadableStream>);
  } catch (error) {
    throw new StageError(`pull of ${ref} failed: ${engineMessage(error)}`);
  }
  const transfer = followTransfer((line) => onLine(`pulling: ${line}`));
  await followProgress(docker, stream, (event) => {
    transfer.event(event);
    if (event.status && !event.progress && /Digest|Status|Downloaded|Pulling from/.test(event.status)) onLine(event.status);
  }).catch((error) => {
    throw new StageError(`pull of ${ref} failed: ${error.message}`);
  });
  transfer.end();
}

/** The message the Engine gave for a failed API call, without dockerode's prefix. */
export function engineMessage(error: unknown): string {
  const json = (error as { json?: { message?: string } }).json;
  const message = (json?.message ?? (error as Error).message ?? String(error)).replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
  // Docker 20.10 says some things twice: "no such image: x: No such image: x".
  const half = (message.length - 2) / 2;
  const twice =
    Number.isInteger(half) &&
    message.slice(half, half + 2) === ': ' &&
    message.slice(0, half).toLowerCase() === message.slice(half + 2).toLowerCase();
  return twice ? message.slice(0, half) : message;
}

/** The digest a tag resolves to in its registry, as this engine sees it (the Engine asks the registry; nothing is pulled). */
export async function registryDigest(docker: Docker, ref: string, auth: RegistryAuth | undefined): Promise<string> {
  const info = await (docker.getImage(ref).distribution({ authconfig: auth } as never) as unknown as Promise<Docker.ImageDistributionInfo>);
  return info.Descriptor.digest;
}

/** Whether the engine has an image (by reference or id). */
export function hasImage(docker: Docker, ref: string): Promise<boolean> {
  return docker
    .getImage(ref)
    .inspect()
    .then(
      () => true,
      () => false,
    );
}
