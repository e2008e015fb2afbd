import { type LogLine, mergeByTime, sinceSeconds } from '../core/logs.js';
import { findEnvironment } from '../core/resolve.js';
import { ConfigError, HostError, StageError } from '../errors.js';
import { type CommonArgs, createDeps, load } from './commands.js';
import { type ServiceOnMember, serviceMembers } from './members.js';
import { untilSignal } from './signals.js';

interface LogsArgs extends CommonArgs {
  environment: string;
  service?: string;
  host?: string;
  since?: string;
  tail?: number;
  follow?: boolean;
  timestamps?: boolean;
}

/**
 * `pipeline logs ENV [SERVICE]`: the container logs of a service (or every service) on each host that runs it, every
 * line prefixed by its host and service; merged in the Engine's timestamp order, or as they come with `--follow`.
 * Secrets are masked like all output.
 */
export async function logsCommand(args: LogsArgs): Promise<number> {
  const loaded = await load(args);
  const environment = findEnvironment(loaded.config, args.environment);
  const since = args.since === undefined ? undefined : sinceSeconds(args.since, Date.now());
  if (since === undefined && args.since !== undefined)
    throw new ConfigError(`--since ${args.since}: expected a duration such as 10m or a time such as 2026-05-01T12:00:00Z`);
  if (args.tail !== undefined && !(Number.isInteger(args.tail) && args.tail >= 0))
    throw new ConfigError(`--tail ${args.tail}: expected a number of lines`);
  return untilSignal(async (signal) => {
    const target = createDeps(loaded, signal).targets.get(environment);
    try {
      const logs = target.logs?.bind(target);
      if (!logs) throw new ConfigError(`pipeline logs does not work on ${environment} yet: its target has no logs`);
      const sources = serviceMembers(loaded.config, environment, target.members, args.service, args.host);
      const prefix = prefixer(sources);
      const write = (source: ServiceOnMember, line: LogLine) => {
        const text = `${prefix(source, line.origin)}${args.timestamps && line.time ? `${line.time} ` : ''}${line.text}\n`;
        (line.stream === 'stderr' ? process.stderr : process.stdout).write(text);
      };
      const request = { since, tail: args.tail, follow: Boolean(args.follow), signal, ...(args.host ? { host: args.host } : {}) };
      const read = sources.map(async (source): Promise<LogLine[]> => {
        const lines: LogLine[] = [];
        await logs(source.member.id, { ...request, service: source.service }, (line) =>
          args.follow ? write(source, line) : lines.push(line),
        );
        return lines;
      });
      const outcomes = await Promise.allSettled(read);
      if (!args.follow) {
        const tagged = outcomes.map((outcome, i) =>
          outcome.status === 'fulfilled' ? outcome.value.map((line) => ({ ...line, source: sources[i]! })) : [],
        );
        for (const line of mergeByTime(tagged)) write(line.source, line);
      }
      const failures = outcomes.flatMap((outcome, i) => (outcome.status === 'rejected' ? [failureOf(sources[i]!, outcome.reason)] : []));
      if (failures.length > 0)
        throw new StageError(`no logs from ${failures.length} of ${sources.length} container(s): ${failures.join('; ')}`);
      return 0;
    } finally {
      await target.close();
    }
  });
}

/** `deploy@web-1 web | ` (a swarm's task: `swarm-node-1 web.2 | `), padded so that the lines of every source line up. */
function prefixer(sources: readonly ServiceOnMember[]): (source: ServiceOnMember, origin?: string) => string {
  const label = (source: ServiceOnMember) => `${source.member.id} ${source.service}`;
  let width = Math.max(...sources.map((source) => label(source).length));
  return (source, origin) => {
    const text = origin ?? label(source);
    width = Math.max(width, text.length);
    return `${text.padEnd(width)} | `;
  };
}

function failureOf(source: ServiceOnMember, error: unknown): string {
  const reason = error instanceof HostError ? error.reason : (error as Error).message;
  return `${source.member.id}: ${reason.startsWith(source.service) ? reason : `${source.service}: ${reason}`}`;
}
