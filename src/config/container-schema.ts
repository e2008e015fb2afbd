import { z } from 'zod';
import { isPipelineLabel, MIN_MEMORY_BYTES, parseExtraHost, parseMemory, parseVolume } from '../core/container-options.js';

/**
 * The fields of a service's container options, with Compose's names and meanings (see core/container-options.ts),
 * parsed once: volumes as mounts, sizes in bytes, labels as a map, extra hosts as `host:ip`.
 */
const stringMap = z.record(z.string(), z.string());

const volume = z.string().transform((text, ctx) => {
  const mount = parseVolume(text);
  if (typeof mount !== 'string') return mount;
  ctx.addIssue({ code: 'custom', message: mount });
  return z.NEVER;
});

const memoryMessage = 'must be a size such as "512m" or "1g" (or a number of bytes)';
const memory = z
  .union([z.string(), z.number()], { error: memoryMessage })
  .refine((value) => parseMemory(value) !== undefined, memoryMessage)
  .transform((value) => parseMemory(value)!)
  .refine((bytes) => bytes >= MIN_MEMORY_BYTES, 'must be at least 6m (the smallest limit Docker allows)');

const cpus = z
  .union(
    [
      z.number(),
      z
        .string()
        .regex(/^\d+(?:\.\d+)?$/)
        .transform(Number),
    ],
    { error: 'must be a number of CPUs, e.g. 0.5' },
  )
  .refine((value) => value >= 0.01, 'must be at least 0.01');

/** `{ NAME: value }`, or Compose's list form `['NAME=value']`; the pipeline's own `pipeline.*` labels are not the user's to set. */
const labels = z
  .union([stringMap, z.array(z.string().regex(/^[^=]+=/, 'must be "NAME=value"'))], { error: 'must be { NAME: value } or ["NAME=value"]' })
  .transform(
    (value): Record<string, string> =>
      Array.isArray(value)
        ? Object.fromEntries(value.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]))
        : value,
  )
  .superRefine((value, ctx) => {
    for (const label of Object.keys(value).filter(isPipelineLabel))
      ctx.addIssue({ code: 'custom', path: [label], message: "the pipeline.* labels are the pipeline's own" });
  })
  .default({});

const extraHost = z.string().transform((text, ctx) => {
  const entry = parseExtraHost(text);
  if (typeof entry === 'string') return entry;
  ctx.addIssue({ code: 'custom', message: entry.problem });
  return z.NEVER;
});

export const containerOptionFields = {
  volumes: z.array(volume).default([]),
  memory: memory.optional(),
  cpus: cpus.optional(),
  user: z
    .string()
    .regex(/^[^\s:]+(?::[^\s:]+)?$/, 'must be "user", "uid", "user:group" or "uid:gid"')
    .optional(),
  labels,
  logging: z.strictObject({ driver: z.string().min(1), options: stringMap.default({}) }).optional(),
  extraHosts: z.array(extraHost).default([]),
};
