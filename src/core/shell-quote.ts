/** Quoting for commands sent over SSH: sshd always hands the command string to the user's shell. */
import { ConfigError } from '../errors.js';

/** Quote one argument for a POSIX shell: wrap in single quotes, escaping embedded single quotes. */
export function shellQuote(arg: string): string {
  // A NUL cannot travel in a command string: the remote side would cut the argument short.
  if (arg.includes('\0'))
    throw new ConfigError(`cannot pass an argument containing a NUL byte to a remote command: ${JSON.stringify(arg)}`);
  // Inside single quotes nothing is special except the closing quote: close, add \', reopen.
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** argv as one command line for a POSIX shell, every word quoted. */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new ConfigError('cannot run an empty command on a host');
  return argv.map(shellQuote).join(' ');
}
