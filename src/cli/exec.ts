import type { Terminal } from '../adapters/container-run.js';
import { findEnvironment } from '../core/resolve.js';
import { ConfigError, HostError, StageError } from '../errors.js';
import { type CommonArgs, createDeps, load } from './commands.js';
import { serviceMembers } from './members.js';
import { untilSignal } from './signals.js';

interface ExecArgs extends CommonArgs {
  environment: string;
  service: string;
  host?: string;
  new?: boolean;
  command?: string[];
}

/**
 * `pipeline exec ENV SERVICE [--host H] [--new] -- COMMAND...`: the command in the service's running container on each
 * of its hosts (or one), output prefixed by host; `--new` runs it in a one-off container of the release the service
 * runs, removed after. On a terminal with one host it is interactive. Exit 1 when it failed on any host, naming them.
 */
export async function execCommand(args: ExecArgs): Promise<number> {
  const command = (args.command ?? []).map(String);
  if (command.length === 0) throw new ConfigError('name the command to run after --, e.g. pipeline exec qa web -- node --version');
  const loaded = await load(args);
  const { config } = loaded;
  const environment = findEnvironment(config, args.environment);
  const secrets = { ...config.environments[environment]!.secrets, ...config.services[args.service]?.secrets };
  // A one-off container gets the service's secrets, as the deploy would give them; a running one has them already.
  const missing = args.new ? Object.values(secrets).filter((variable) => !process.env[variable]) : [];
  if (missing.length > 0) throw new ConfigError(`secret${missing.length > 1 ? 's' : ''} not set in the environment: ${missing.join(', ')}`);
  return untilSignal(async (signal) => {
    const target = createDeps(loaded, signal).targets.get(environment);
    try {
      const exec = target.exec?.bind(target);
      if (!exec) throw new ConfigError(`pipeline exec does not work on ${environment} yet: its target has no exec`);
      const members = serviceMembers(config, environment, target.members, args.service, args.host).map(({ member }) => member);
      const terminal = members.length === 1 ? processTerminal() : undefined;
      const width = Math.max(...members.map((member) => member.id.length));
      const outcomes = await Promise.allSettled(
        members.map((member) =>
          withTerminal(terminal, (attached) =>
            exec(member.id, {
              service: args.service,
              command,
              oneOff: Boolean(args.new),
              secretEnv: (names) =>
                Object.fromEntries(Object.entries(names).map(([name, variable]) => [name, process.env[variable] ?? ''])),
              ...(attached ? { terminal: attached } : {}),
              ...(args.host ? { host: args.host } : {}),
              onLines: (lines, stream, origin) =>
                (stream === 'stderr' ? process.stderr : process.stdout).write(
                  `${lines
                    .split('\n')
                    .map((line) => `${(origin ?? member.id).padEnd(width)} | ${line}`)
                    .join('\n')}\n`,
                ),
              signal,
            }),
          ),
        ),
      );
      const failures = outcomes.flatMap((outcome, i) => {
        const id = members[i]!.id;
        if (outcome.status === 'rejected')
          return [`${id}: ${outcome.reason instanceof HostError ? outcome.reason.reason : (outcome.reason as Error).message}`];
        return outcome.value === 0 ? [] : [`${id}: exited with code ${outcome.value}`];
      });
      if (failures.length > 0)
        throw new StageError(`${command.join(' ')} failed on ${failures.length} of ${members.length} host(s): ${failures.join('; ')}`);
      return 0;
    } finally {
      await target.close();
    }
  });
}

/** This process's terminal, when both its input and output are one (a person at a keyboard); undefined in CI or a pipe. */
function processTerminal(): Terminal | undefined {
  const { stdin, stdout } = process;
  if (!stdin.isTTY || !stdout.isTTY) return undefined;
  return {
    stdin,
    stdout,
    size: () => ({ rows: stdout.rows, columns: stdout.columns }),
    onResize: (listener) => {
      stdout.on('resize', listener);
      return () => {
        stdout.off('resize', listener);
      };
    },
  };
}

/** Keys go to the command as typed (Ctrl-C included) while it runs interactively; the terminal is given back after. */
async function withTerminal<T>(terminal: Terminal | undefined, work: (terminal: Terminal | undefined) => Promise<T>): Promise<T> {
  if (!terminal) return work(undefined);
  // Not resumed here: what was typed before the command is attached waits in the terminal until it is piped there.
  process.stdin.setRawMode(true);
  try {
    return await work(terminal);
  } finally {
    process.stdin.setRawMode(false);
    process.stdin.pause();
  }
}
