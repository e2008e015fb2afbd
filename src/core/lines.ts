/** Splits a stream of text chunks into whole lines (a line split across chunks is joined). */
export function lineSplitter(onLine: (line: string) => void): { write(chunk: string | Buffer): void; flush(): void } {
  let pending = '';
  return {
    write(chunk) {
      const lines = (pending + chunk.toString()).split(/\r?\n/);
      pending = lines.pop()!;
      for (const line of lines) onLine(line);
    },
    flush() {
      if (pending !== '') onLine(pending);
      pending = '';
    },
  };
}
