/**
 * The host's proxy container and its Caddy admin API. The admin API listens on localhost inside the proxy container
 * only; the pipeline reaches it by running the image's own `wget` through the Engine API (docker exec), so nothing
 * is published for it and any Caddy 2 image works.
 */
import type Docker from 'dockerode';
import { LABEL_PREFIX } from '../core/plan.js';
import { PROXY_ADMIN, PROXY_CONTAINER, PROXY_NETWORK, PROXY_VOLUME } from '../core/proxy.js';
import { withTimeout } from '../core/time.js';

/** The proxy's container: Caddy resuming its last configuration (kept in a volume), on the proxy network, publishing `ports`. */
export function proxySpec(image: string, ports: readonly number[]): Docker.ContainerCreateOptions {
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

/** The network the proxy and the proxied containers share; made once per host (a second deploy finds it). */
export async function ensureProxyNetwork(docker: Docker): Promise<void> {
  const exists = await docker
    .getNetwork(PROXY_NETWORK)
    .inspect()
    .then(
      () => true,
      (error) => {
        if ((error as { statusCode?: number }).statusCode === 404) return false;
        throw error;
      },
    );
  if (exists) return;
  await docker
    .createNetwork({ Name: PROXY_NETWORK, CheckDuplicate: true, Labels: { [`${LABEL_PREFIX}network`]: 'proxy' } })
    .catch((error) => {
      if ((error as { statusCode?: number }).statusCode !== 409) throw error; // made meanwhile by another deploy
    });
}

/** A request to the proxy's admin API, run inside the proxy container; resolves with the response body. */
export async function adminRequest(docker: Docker, path: string, options: { body?: unknown; timeoutMs: number }): Promise<string> {
  const post =
    options.body === undefined ? [] : ['--header', 'Content-Type: application/json', '--post-data', JSON.stringify(options.body)];
  const what = `${options.body === undefined ? 'GET' : 'POST'} ${path} on the proxy's admin API`;
  const { code, stdout, stderr } = await withTimeout(
    execIn(docker.getContainer(PROXY_CONTAINER), ['wget', '-q', '-O', '-', ...post, `http://${PROXY_ADMIN}${path}`]),
    options.timeoutMs,
    what,
  );
  if (code !== 0) throw new Error(`${what} failed${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ` (exit code ${code})`}`);
  return stdout;
}

async function execIn(container: Docker.Container, command: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const exec = await container.exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  let stdout = '';
  let stderr = '';
  container.modem.demuxStream(
    stream,
    {
      write: (chunk: Buffer) => {
        stdout += chunk.toString();
        return true;
      },
    } as never,
    {
      write: (chunk: Buffer) => {
        stderr += chunk.toString();
        return true;
      },
    } as never,
  );
  await new Promise((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
  });
  // The output can end a moment before the engine records the exit code.
  let info = await exec.inspect();
  for (let i = 0; info.Running && i < 50; i++) info = await new Promise((resolve) => setTimeout(resolve, 20)).then(() => exec.inspect());
  return { code: info.ExitCode ?? -1, stdout, stderr };
}
