import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { ExecResult, HostConnection } from './ports.js';

/** The host `local`: the runner's own Docker engine, its programs and its network, with no SSH in between. */
export function localConnection(docker: Docker): HostConnection {
  return {
    docker,
    /** Runs a program in the user's home, as an SSH session on a host would; arguments are never seen by a shell. */
    exec(argv: string[], options: { stdin?: string | Buffer; timeoutMs?: number } = {}): Promise<ExecResult> {
      return new Promise((resolve, reject) => {
        const child = spawn(argv[0]!, argv.slice(1), {
          cwd: homedir(),
          stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
          timeout: options.timeoutMs,
        });
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (chunk) => {
          stdout += chunk;
        });
        child.stderr!.on('data', (chunk) => {
          stderr += chunk;
        });
        child.on('error', reject);
        child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
        // A program that exits without reading its input must not crash the runner.
        child.stdin?.on('error', () => {}).end(options.stdin);
      });
    },
    openTcp(host: string, port: number): Promise<Duplex> {
      return new Promise((resolve, reject) => {
        const socket = connect({ host, port }, () => resolve(socket)).once('error', reject);
      });
    },
    async close() {},
  };
}
