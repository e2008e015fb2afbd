import { isIP } from 'node:net';
import { LABEL_PREFIX } from './labels.js';

/**
 * A service's container options, with Docker Compose's names and meanings: what the config says beyond the image,
 * command, ports and environment. Parsed once, when the config is validated.
 */
export interface ContainerOptions {
  volumes: VolumeMount[];
  /** Memory limit in bytes. */
  memory?: number;
  /** CPUs the container may use, e.g. 0.5. */
  cpus?: number;
  /** `user`, `uid`, `user:group` or `uid:gid`. */
  user?: string;
  /** The user's labels; the pipeline's own (`pipeline.*`) are set beside them. */
  labels: Record<string, string>;
  logging?: { driver: string; options: Record<string, string> };
  /** `host:ip` entries added to the container's /etc/hosts. */
  extraHosts: string[];
}

/**
 * A named volume (`data:/var/lib/data`) or a host path (`/etc/app:/etc/app:ro`) mounted in the container. The source of
 * a named volume is its name as written; on a host it is the Docker volume `<project>_<name>`, as Compose names it.
 */
export interface VolumeMount {
  type: 'volume' | 'bind';
  source: string;
  target: string;
  readOnly: boolean;
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** `NAME:/PATH` or `/HOST/PATH:/PATH`, each optionally with `:ro` or `:rw`; a string saying what is wrong otherwise. */
export function parseVolume(text: string): VolumeMount | string {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3) return 'must be "NAME:/PATH" or "/HOST/PATH:/PATH", optionally with ":ro"';
  const [source, target, mode = 'rw'] = parts as [string, string, string?];
  if (!target.startsWith('/')) return `the path in the container must be absolute, e.g. "${source}:/data"`;
  if (mode !== 'ro' && mode !== 'rw') return `the mode must be "ro" or "rw", not "${mode}"`;
  const readOnly = mode === 'ro';
  if (source.startsWith('/')) return { type: 'bind', source, target, readOnly };
  if (/^[.~]/.test(source)) return 'a host path must be absolute: it is a path on the deploy host, not next to the config';
  if (!VOLUME_NAME.test(source)) return 'a volume name must be letters, digits, "_", "." or "-"';
  return { type: 'volume', source, target, readOnly };
}

/** The Docker volume a named volume of a project is, as Compose names it. */
export function volumeName(project: string, name: string): string {
  return `${project}_${name}`;
}

const MEMORY_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
/** Docker's smallest memory limit. */
export const MIN_MEMORY_BYTES = 6 * 1024 ** 2;

/** Bytes in a memory size as Compose reads it (`'512m'`, `'1g'`, `'1.5GB'`, `'256mib'`, or a number of bytes); undefined when it is not one. */
export function parseMemory(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$/i.exec(value.trim());
  if (!match) return undefined;
  return Math.floor(Number(match[1]) * MEMORY_UNITS[match[2]!.toLowerCase()]!);
}

/** `host:ip` (or Compose's `host=ip`) as the Engine wants it, `host:ip`; a string saying what is wrong otherwise. */
export function parseExtraHost(text: string): string | { problem: string } {
  const match = /^([^:=\s]+)[:=](.+)$/.exec(text);
  const address = match?.[2]?.replace(/^\[(.*)\]$/, '$1');
  if (!match || !address) return { problem: 'must be "host:ip", e.g. "db.internal:10.0.0.5"' };
  if (address !== 'host-gateway' && isIP(address) === 0) return { problem: `"${address}" is not an IP address (or host-gateway)` };
  return `${match[1]}:${address}`;
}

/** Whether a label name is one of the pipeline's own, which say whose container it is (users cannot set them). */
export function isPipelineLabel(name: string): boolean {
  return name.startsWith(LABEL_PREFIX);
}
