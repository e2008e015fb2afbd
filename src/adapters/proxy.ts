/**
 * The host's proxy container and its Caddy admin API. The admin API listens on localhost inside the proxy container
 * only; the pipeline reaches it by running the image's own `wget` through the Engine API (docker exec), so nothing
 * is published for it and any Caddy 2 image works.
 */
import type Docker from 'dockerode';
import { LABEL_PREFIX } from '../core/plan.js';
import { PROXY_ADMIN, PROXY_CONTAINER, PROXY_LOCK, PROXY_NETWORK, PROXY_VOLUME } from '../core/proxy.js';
import { withTimeout } from '../core/time.js';
import { findContainer } from './service.js';

/**
 * Caddy 2.6+ reloads a configuration by opening new listeners beside the old ones (SO_REUSEPORT) and closing the old:
 * a connection still in a closed listener's accept queue is reset, unless the kernel hands it to the new listener
 * (Linux 5.14+, per network namespace).
 */
export const MIGRATE_SYSCTL = 'net.ipv4.tcp_migrate_req';

/**
 * The proxy's container: Caddy resuming its last configuration (kept in a volume), on the proxy network, publishing
 * `ports`; with `migrate`, connections being accepted survive a configuration change (see MIGRATE_SYSCTL).
 */
export function proxySpec(image: string, ports: readonly number[], migrate = true): Docker.ContainerCreateOptions {
  const key = (port: number) => `${port}/tcp`;
  return {
    name: PROXY_CONTAINER,
    Image: image,
    Cmd: ['caddy', 'run', '--resume'],
    Labels: { [`${LABEL_PREFIX}proxy`]: 'caddy' },
    ExposedPorts: Object.fromEntries(ports.map((port) => [key(port), {}])),
    HostConfig: {
      NetworkMode: PROXY_NETWORK,
      PortBindings: Object.fromEntries(ports.map((port) => [key(port), [{ HostPort: String(port) }]])),
      Binds: [`${PROXY_VOLUME}:/config`],
      RestartPolicy: { Name: 'unless-stopped' },
      ...(migrate ? { Sysctls: { [MIGRATE_SYSCTL]: '1' } } : {}),
    },
  };
}

/** The host ports a proxy container publishes. */
export function publishedPorts(info: Docker.ContainerInspectInfo): number[] {
  return Object.values(info.HostConfig.PortBindings ?? {})
    .flatMap((bindings) => ((bindings ?? []) as { HostPort?: string }[]).map((b) => Number(b.HostPort)))
    .filter((port) => port > 0)
    .sort((a, b) => a - b);
}

/**
 * The network the proxy and the proxied containers share; made once per host (a second deploy finds it). Made under
 * the proxy lock: the engine's duplicate check is best effort, and a name two networks share is refused by every
 * later `docker run --network`. Such twins (left by deploys that raced before the lock) are mended: the ones no
 * container uses are removed.
 */
export async function ensureProxyNetwork(docker: Docker): Promise<void> {
  const named = await proxyNetworks(docker);
  if (named.length === 0) {
    await docker.createNetwork({ Name: PROXY_NETWORK, CheckDuplicate: true, Labels: { [`${LABEL_PREFIX}network`]: 'proxy' } });
    return;
  }
  if (named.length === 1) return;
  const used = await Promise.all(named.map((n) => docker.getNetwork(n.Id).inspect() as Promise<{ Id: string; Containers?: object }>));
  const idle = used.filter((n) => Object.keys(n.Containers ?? {}).length === 0);
  const spare = idle.length === used.length ? idle.slice(1) : idle;
  for (const n of spare) await docker.getNetwork(n.Id).remove();
  if (used.length - spare.length > 1)
    throw new Error(
      `${used.length - spare.length} networks are named ${PROXY_NETWORK} and each has containers: remove all but one (docker network rm ID)`,
    );
}

/** The networks named as the proxy's (one, once made). */
export async function proxyNetworks(docker: Docker): Promise<Docker.NetworkInspectInfo[]> {
  return (await docker.listNetworks({ filters: { name: [PROXY_NETWORK] } })).filter((n) => n.Name === PROXY_NETWORK);
}

/** The proxy's configuration changed since it was read (Caddy answered 412 to `If-Match`): read it again. */
export class ConfigChanged extends Error {}

/**
 * What the admin API answered: the body, the configuration's ETag when it sends it as a header (Caddy ≥ 2.7), and
 * the body of the `andGet` request made right after a change, in the same exec (undefined if that one failed).
 */
export interface AdminAnswer {
  body: Buffer;
  etag?: string;
  andGot?: Buffer;
}

/** Between the two answers of one exec (JSON never holds a raw newline inside a string). */
const SEPARATOR = '\n--pipeline--\n';

/**
 * A request to the proxy's admin API, run inside the proxy container. With `ifMatch`, a change is made only if the
 * configuration is still the one of that ETag; else it rejects with ConfigChanged. `andGet`: a GET made once the change
 * is made, by the same exec (each exec is a process the engine starts in the container: one fewer during a switch).
 */
export async function adminRequest(
  docker: Docker,
  path: string,
  options: { body?: unknown; ifMatch?: string; andGet?: string; timeoutMs: number },
): Promise<AdminAnswer> {
  const post =
    options.body === undefined ? [] : ['--header', 'Content-Type: application/json', '--post-data', JSON.stringify(options.body)];
  const condition = options.ifMatch ? ['--header', `If-Match: ${options.ifMatch}`] : [];
  const request = ['wget', '-S', '-q', '-O', '-', ...condition, ...post, `http://${PROXY_ADMIN}${path}`];
  const andGet = `wget -q -O - 'http://${PROXY_ADMIN}${options.andGet}'`;
  const command = options.andGet
    ? ['sh', '-c', `"$@" && printf '${SEPARATOR.replaceAll('\n', '\\n')}' && exec ${andGet}`, 'sh', ...request]
    : request;
  const what = `${options.body === undefined ? 'GET' : 'POST'} ${path} on the proxy's admin API`;
  const { code, stdout, stderr } = await withTimeout(execIn(docker.getContainer(PROXY_CONTAINER), command), options.timeoutMs, what);
  const cut = options.andGet ? stdout.indexOf(SEPARATOR) : -1;
  const etag = /^\s*etag:\s*(.+?)\s*$/im.exec(stderr)?.[1];
  if (cut >= 0)
    return {
      body: stdout.subarray(0, cut),
      ...(etag ? { etag } : {}),
      ...(code === 0 ? { andGot: stdout.subarray(cut + SEPARATOR.length) } : {}),
    };
  if (code !== 0 && / 412 /.test(stderr)) throw new ConfigChanged(`${what}: the configuration changed meanwhile`);
  if (code !== 0) throw new Error(`${what} failed${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ` (exit code ${code})`}`);
  return { body: stdout, ...(etag ? { etag } : {}) };
}

/**
 * Takes the host's proxy lock: resolves with the lock container's id, or undefined while another deploy holds it
 * (a lock older than `ttlMs`, left by a deploy that died, is removed, and the next try can take it).
 */
export async function takeProxyLock(docker: Docker, image: string, ttlMs: number): Promise<string | undefined> {
  const created = await docker
    .createContainer({ name: PROXY_LOCK, Image: image, Cmd: ['true'], Labels: { [`${LABEL_PREFIX}proxy-lock`]: String(ttlMs) } })
    .catch((error) => {
      if ((error as { statusCode?: number }).statusCode === 409) return undefined;
      throw error;
    });
  if (created) return created.id;
  const held = await proxyLockAge(docker);
  if (held && held.ageMs > ttlMs) await removeProxyLock(docker, held.id);
  return undefined;
}

/** The lock container's id and age, or undefined when no deploy holds the lock. */
export async function proxyLockAge(docker: Docker): Promise<{ id: string; ageMs: number } | undefined> {
  const info = await findContainer(docker, PROXY_LOCK);
  return info ? { id: info.Id, ageMs: Date.now() - Date.parse(info.Created) } : undefined;
}

/** Gives the lock back (by the id taken: never another deploy's). */
export function removeProxyLock(docker: Docker, id: string): Promise<void> {
  return docker
    .getContainer(id)
    .remove({ force: true })
    .catch((error) => {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    });
}

async function execIn(container: Docker.Container, command: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const exec = await container.exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const sink = (chunks: Buffer[]) =>
    ({
      write: (chunk: Buffer) => {
        chunks.push(chunk);
        return true;
      },
    }) as never;
  container.modem.demuxStream(stream, sink(stdout), sink(stderr));
  await new Promise((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
  });
  // The output can end a moment before the engine records the exit code.
  let info = await exec.inspect();
  for (let i = 0; info.Running && i < 50; i++) info = await new Promise((resolve) => setTimeout(resolve, 20)).then(() => exec.inspect());
  return { code: info.ExitCode ?? -1, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString() };
}
