/**
 * Splits a stream of text chunks into whole lines (a line split across chunks
 * is joined; `\r\n` ends a line like `\n`) and hands them on a chunk at a time,
 * joined by `\n`: one renderer update per chunk rather than per line keeps a
 * test that prints hundreds of megabytes cheap to show.
 */
export function lineBatcher(onLines: (lines: string) => void): { write(chunk: string | Buffer): void; flush(): void } {
  let pending = '';
  const emit = (text: string) => onLines(text.replace(/\r(?=\n|$)/g, ''));
  return {
    write(chunk) {
      const text = pending + chunk.toString();
      const end = text.lastIndexOf('\n');
      if (end === -1) {
        pending = text;
        return;
      }
      pending = text.slice(end + 1);
      emit(text.slice(0, end));
    },
    flush() {
      if (pending !== '') emit(pending);
      pending = '';
    },
  };
}

/** The last line of some lines. */
export function lastLine(lines: string): string {
  return lines.slice(lines.lastIndexOf('\n') + 1);
}
