/**
 * Lines of work that outlives the task that started it (a pull begun while the tests run, finished in the deploy):
 * whoever shows it now follows it, and hears the latest line at once while the work still runs.
 */
export class Relay {
  private sink: (line: string) => void = () => {};
  private last: string | undefined;
  private ended = false;

  readonly write = (line: string): void => {
    this.last = line;
    this.sink(line);
  };

  follow(sink: (line: string) => void): void {
    this.sink = sink;
    if (!this.ended && this.last !== undefined) sink(this.last);
  }

  /** The work is over: a later follower is not told its last line again. */
  end(): void {
    this.ended = true;
  }
}
