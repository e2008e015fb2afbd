/**
 * One SSH connection per deploy host, carrying both remote commands and the Docker API.
 * Docker API requests travel over channels of that connection (docker-modem's own `ssh` protocol
 * would open a new SSH connection for every request).
 *
 * connect.ts opens it (known_hosts, credentials, host key check); connection.ts is the connection
 * (channels, and everything failing at once when it ends); exec.ts runs one remote command;
 * docker-agent.ts carries the Docker API over channels; session-pool.ts keeps within sshd's MaxSessions;
 * pool.ts shares connections between routes (jump hosts); config-file.ts reads SSH config files.
 */

export { readSshConfig } from './config-file.js';
export { connectHost, type SshOptions } from './connect.js';
export type { SshHostConnection, SshTarget } from './connection.js';
export { type PoolOptions, SshPool } from './pool.js';
