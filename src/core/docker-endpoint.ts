/**
 * Which Docker engine a host's `docker` CLI would talk to, worked out the way the CLI does
 * (DOCKER_HOST, else DOCKER_CONTEXT, else the currentContext of its config.json, else the
 * default socket), from what one small command printed in the deploy user's SSH session.
 */

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/**
 * Prints the settings the CLI reads, one `name=value` a line. Only the currentContext line of
 * config.json is printed: the file may hold registry credentials.
 */
export const DOCKER_ENDPOINT_PROBE: readonly string[] = [
  'sh',
  '-c',
  [
    `printf 'DOCKER_HOST=%s\\nDOCKER_CONTEXT=%s\\n' "\${DOCKER_HOST-}" "\${DOCKER_CONTEXT-}"`,
    `sed -n 's/.*"currentContext"[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/currentContext=\\1/p' "\${DOCKER_CONFIG:-$HOME/.docker}/config.json" 2>/dev/null`,
    'exit 0',
  ].join('\n'),
];

export interface DockerSettings {
  dockerHost: string;
  dockerContext: string;
  currentContext: string;
}

/**
 * `socket`: the engine is this Unix socket on the host, reachable without running anything there.
 * `cli`: only the host's `docker` CLI knows how to reach it (TCP, SSH, a context); `reason` says why.
 */
export type DockerEndpoint = { kind: 'socket'; path: string } | { kind: 'cli'; reason: string };

/** The probe's output; a setting it did not print is empty (unset). */
export function parseDockerProbe(stdout: string): DockerSettings {
  const settings: DockerSettings = { dockerHost: '', dockerContext: '', currentContext: '' };
  for (const line of stdout.split('\n')) {
    const equals = line.indexOf('=');
    if (equals < 0) continue;
    const value = line.slice(equals + 1);
    switch (line.slice(0, equals)) {
      case 'DOCKER_HOST':
        settings.dockerHost = value;
        break;
      case 'DOCKER_CONTEXT':
        settings.dockerContext = value;
        break;
      case 'currentContext':
        settings.currentContext = value;
        break;
    }
  }
  return settings;
}

/** The CLI's own order: an empty variable counts as unset, and the context named "default" is DOCKER_HOST or the default socket. */
export function dockerEndpoint(settings: DockerSettings): DockerEndpoint {
  const { dockerHost, dockerContext, currentContext } = settings;
  if (dockerHost !== '') {
    if (!dockerHost.startsWith('unix://')) return { kind: 'cli', reason: `DOCKER_HOST is ${dockerHost}` };
    const path = dockerHost.slice('unix://'.length) || DEFAULT_DOCKER_SOCKET;
    return path.startsWith('/')
      ? { kind: 'socket', path }
      : { kind: 'cli', reason: `DOCKER_HOST is a relative socket path (${dockerHost})` };
  }
  if (dockerContext !== '' && dockerContext !== 'default') return { kind: 'cli', reason: `DOCKER_CONTEXT is ${dockerContext}` };
  if (dockerContext === '' && currentContext !== '' && currentContext !== 'default')
    return { kind: 'cli', reason: `the docker context is ${currentContext} (config.json)` };
  return { kind: 'socket', path: DEFAULT_DOCKER_SOCKET };
}
