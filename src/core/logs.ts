import { parseDuration } from './duration.js';

/** One line of a container's log: the Engine's timestamp (RFC 3339 in UTC, up to nanoseconds), its stream, its text. */
export interface LogLine {
  time: string;
  stream: 'stdout' | 'stderr';
  text: string;
  /** Where it comes from, when a member's log has several sources (a swarm service's tasks: `node web.1`). */
  origin?: string;
}

/**
 * A line of a log read with `details` (a swarm service's): the attributes the Engine puts before the text,
 * `com.docker.swarm.node.id=…,com.docker.swarm.task.id=…` (query-escaped), and the text; none when it has none.
 */
export function splitDetails(text: string): { details: Record<string, string>; text: string } {
  const space = text.indexOf(' ');
  const head = space === -1 ? text : text.slice(0, space);
  if (!/^[^=,\s]+=[^,\s]*(,[^=,\s]+=[^,\s]*)*$/.test(head)) return { details: {}, text };
  const decode = (value: string) => {
    try {
      return decodeURIComponent(value.replaceAll('+', ' '));
    } catch {
      return value;
    }
  };
  const details = Object.fromEntries(
    head.split(',').map((pair) => [decode(pair.slice(0, pair.indexOf('='))), decode(pair.slice(pair.indexOf('=') + 1))]),
  );
  return { details, text: space === -1 ? '' : text.slice(space + 1) };
}

/** A frame of the Engine's multiplexed stream (logs and attach of a container without a TTY). */
export interface StreamFrame {
  stream: 'stdout' | 'stderr';
  text: string;
}

/**
 * The frames of a whole multiplexed buffer: each starts with 8 bytes, the stream (1 stdout, 2 stderr) and the size.
 * A truncated last frame is left out.
 */
export function demuxFrames(buffer: Buffer): StreamFrame[] {
  const frames: StreamFrame[] = [];
  for (let offset = 0; offset + 8 <= buffer.length; ) {
    const size = buffer.readUInt32BE(offset + 4);
    if (offset + 8 + size > buffer.length) break;
    frames.push({
      stream: buffer[offset] === 2 ? 'stderr' : 'stdout',
      text: buffer.subarray(offset + 8, offset + 8 + size).toString('utf8'),
    });
    offset += 8 + size;
  }
  return frames;
}

/** Splits the text of a log read with `timestamps` into lines, each with the timestamp the Engine put in front of it. */
export function timestampedLines(text: string, stream: LogLine['stream']): LogLine[] {
  return text
    .split('\n')
    .filter((line, i, all) => line !== '' || i < all.length - 1)
    .map((line) => {
      const space = line.indexOf(' ');
      return space > 0 && /^\d{4}-\d\d-\d\dT/.test(line)
        ? { time: line.slice(0, space), stream, text: line.slice(space + 1).replace(/\r$/, '') }
        : { time: '', stream, text: line };
    });
}

/**
 * A timestamp made comparable as text: the Engine writes RFC 3339 with trailing zeros of the fraction dropped
 * (`…:05.1Z` is later than `…:05.09Z`), so the fraction is padded to nanoseconds.
 */
export function sortableTime(time: string): string {
  const match = /^([^.Z+]+)(?:\.(\d+))?Z$/.exec(time);
  return match ? `${match[1]}.${(match[2] ?? '').padEnd(9, '0')}Z` : time;
}

/** The lines of several containers' logs, each already in time order, as one list in time order; equal times keep their sources' order. */
export function mergeByTime<T extends { time: string }>(sources: readonly (readonly T[])[]): T[] {
  const keyed = sources.flatMap((lines, source) => lines.map((line, index) => ({ line, key: sortableTime(line.time), source, index })));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.source - b.source || a.index - b.index));
  return keyed.map((entry) => entry.line);
}

/**
 * `--since`: a duration back from now (`10m`, `2h`) or a date and time (`2026-05-01T12:00:00Z`), as the Engine's
 * `since` (seconds since the epoch); undefined when it is neither.
 */
export function sinceSeconds(text: string, now: number): number | undefined {
  const back = parseDuration(text);
  if (back !== undefined) return Math.floor((now - back) / 1000);
  const at = /^\d{4}-\d\d-\d\d/.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isNaN(at) ? undefined : Math.floor(at / 1000);
}
