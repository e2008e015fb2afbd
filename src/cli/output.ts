import type { Masker } from '../core/mask.js';

let masker: Masker = (text) => text;

/** Everything the process writes passes through the current masker, whoever writes it. */
export function maskProcessOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    // A reader that went away (`pipeline run | head`) must not kill a deploy before it unlocks and cleans up.
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) =>
      write(
        typeof chunk === 'string' ? masker(chunk) : Buffer.isBuffer(chunk) ? masker(chunk.toString()) : chunk,
        ...rest,
      )) as typeof stream.write;
  }
}

export function setMasker(next: Masker): void {
  masker = next;
}

export function currentMasker(): Masker {
  return (text) => masker(text);
}
