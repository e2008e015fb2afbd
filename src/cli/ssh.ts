/**
 * How a command reaches its SSH hosts: each environment's `ssh` settings over the top-level ones, its SSH config
 * file (read once), the route that gives (jump hosts first), and one pool of connections for the whole command.
 * Loaded on the first SSH connection only: commands that reach no host never load the SSH modules.
 */
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { HostConnection } from '../adapters/ports.js';
import { readSshConfig, SshPool } from '../adapters/ssh/index.js';
import { configPath, type LoadedConfig } from '../config/load.js';
import { environmentSsh, type HostAddress } from '../core/hosts.js';
import type { SshConfigFile } from '../core/ssh-config.js';
import { type RouteContext, resolveRoute } from '../core/ssh-route.js';

export type SshConnect = (address: Extract<HostAddress, { kind: 'ssh' }>, environment: string) => Promise<HostConnection>;

export function sshConnector(loaded: LoadedConfig): SshConnect {
  const { config, dir } = loaded;
  const context: RouteContext = { home: homedir(), localUser: localUser() };
  const pool = new SshPool({ passphrase: config.ssh.passphrase });
  const files = new Map<string, Promise<SshConfigFile | undefined>>();
  /** `ssh.config`, else ~/.ssh/config when there is one; false: none. */
  const sshConfig = (setting: string | false | undefined): Promise<SshConfigFile | undefined> => {
    if (setting === false) return Promise.resolve(undefined);
    const path = setting === undefined ? join(context.home, '.ssh/config') : configPath(dir, setting);
    let file = files.get(path);
    if (!file) {
      file = readSshConfig(path, context.home, setting !== undefined);
      files.set(path, file);
    }
    return file;
  };
  return async (address, environment) => {
    const settings = environmentSsh(config.ssh, config.environments[environment]?.ssh);
    const paths = {
      identityFile: settings.identityFile === undefined ? undefined : configPath(dir, settings.identityFile),
      knownHosts: settings.knownHosts === undefined ? undefined : configPath(dir, settings.knownHosts),
    };
    return pool.connect(resolveRoute(address, { ...settings, ...paths }, await sshConfig(settings.config), context));
  };
}

function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? '';
  }
}
