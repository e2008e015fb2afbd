/** `rollout.batch`: how many hosts switch at once, each batch healthy before the next. */
export type RolloutBatch = number | `${number}%` | string;

/** Hosts per batch out of `total`: a count (at most all), or a percentage rounded up (at least one). */
export function batchSize(total: number, batch: RolloutBatch | undefined): number {
  if (total === 0) return 0;
  if (batch === undefined) return total;
  if (typeof batch === 'number') return Math.min(Math.max(1, Math.floor(batch)), total);
  const percent = Number(batch.replace(/%$/, ''));
  return Math.min(total, Math.max(1, Math.ceil((total * percent) / 100)));
}

/** The members in batches, in their order; without `batch`, one batch of all (every host at once). */
export function rolloutBatches<T>(members: readonly T[], batch: RolloutBatch | undefined): T[][] {
  const size = batchSize(members.length, batch);
  const batches: T[][] = [];
  for (let i = 0; i < members.length; i += size) batches.push(members.slice(i, i + size));
  return batches;
}
