/** One remote command on an exec channel: its output, its exit status, and stopping it on a timeout. */
import type { ClientChannel } from 'ssh2';
import { exitStatus, inSeconds } from '../../core/ssh.js';
import { HostError } from '../../errors.js';
import type { ExecOptions, ExecResult } from '../ports.js';

/**
 * Collect what the command on `channel` prints until it exits, sending `options.stdin` first.
 * While it runs, its abort function is in `inFlight`, so a lost connection fails it at once.
 */
export function collectExec(
  channel: ClientChannel,
  program: string,
  options: ExecOptions,
  host: string,
  inFlight: Set<(error: HostError) => void>,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let settled = false;

    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      inFlight.delete(abort);
      finish();
    };
    const abort = (error: HostError): void => {
      settle(() => reject(error));
      channel.close();
    };
    inFlight.add(abort);

    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        killRemote(channel);
        abort(new HostError(host, `timed out after ${inSeconds(options.timeoutMs!)}s running ${program}`));
      }, options.timeoutMs);
    }

    channel.on('data', (chunk: Buffer) => stdout.push(chunk));
    channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    channel.on('error', (error: Error) =>
      abort(new HostError(host, `SSH channel failed running ${program}: ${error.message}`, { cause: error })),
    );
    // The exit status comes from 'close', not 'exit': a fast command's 'exit' can be emitted before
    // this listener exists, in the same packet batch that completed the channel open.
    channel.on('close', (code?: number | null, signal?: string) =>
      settle(() => {
        const status = exitStatus(code, signal);
        if (status === undefined) reject(new HostError(host, `${program} ended without an exit status`));
        else resolve({ code: status, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') });
      }),
    );
    channel.end(options.stdin);
  });
}

/**
 * Send SIGKILL to the remote command's process group. Needed because sshd does not stop a command
 * without a tty when its channel closes. ssh2's channel.signal() does nothing once stdin is ended
 * (it checks `writable`), and exec() always ends stdin, so ask the protocol layer directly.
 */
function killRemote(channel: ClientChannel): void {
  const internals = channel as unknown as {
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, signal: string): void } };
  };
  const protocol = internals._client?._protocol;
  const outgoing = internals.outgoing;
  if (protocol && outgoing && (outgoing.state === 'open' || outgoing.state === 'eof')) protocol.signal(outgoing.id, 'KILL');
  else channel.signal('KILL');
}
