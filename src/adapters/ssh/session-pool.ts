/** Counts open channels against sshd's MaxSessions; waiters get freed slots first come, first served. */
export class SessionPool {
  private active = 0;
  private readonly waiting: Array<{ resolve: (release: () => void) => void; reject: (error: Error) => void }> = [];

  constructor(
    private readonly capacity: number,
    private readonly onStarved: () => void,
  ) {}

  acquire(): Promise<() => void> {
    if (this.active < this.capacity) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.onStarved();
    });
  }

  failWaiting(error: Error): void {
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }

  /** A release function that hands its slot to the next waiter, once. */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next.resolve(this.releaser());
      else this.active--;
    };
  }
}
