interface Window {
  count: number;
  resetAtMs: number;
}

/**
 * Fixed-window, calendar-quota and token-budget counts in one process' memory: the counter
 * store's and the token budgets' own when no Redis answers, and the cluster primary's for its
 * workers (cluster/primary.ts). Windows
 * past their reset are swept, so a spray of keys cannot grow memory forever.
 */
export class FixedWindows {
  private readonly windows = new Map<string, Window>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(sweepEveryMs = 30_000) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), sweepEveryMs);
    this.sweeper.unref();
  }

  /** One hit in `key`'s window; the first hit (or the first after a reset) starts a window of `windowMs`. */
  hit(key: string, windowMs: number, now = Date.now()): { current: number; ttl: number } {
    let w = this.windows.get(key);
    if (w === undefined || w.resetAtMs <= now) {
      w = { count: 0, resetAtMs: now + windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    return { current: w.count, ttl: w.resetAtMs - now };
  }

  /** One request against a quota whose period ends at `resetAtMs`. */
  quota(key: string, resetAtMs: number, now = Date.now()): number {
    return this.add(key, 1, resetAtMs, now);
  }

  /** Add `amount` to a counter whose window or period ends at `resetAtMs`; 0 reads without starting one. */
  add(key: string, amount: number, resetAtMs: number, now = Date.now()): number {
    let w = this.windows.get(key);
    if (w === undefined || w.resetAtMs <= now) {
      if (amount === 0) return 0;
      w = { count: 0, resetAtMs };
      this.windows.set(key, w);
    }
    w.count += amount;
    return w.count;
  }

  /** Take a count given elsewhere (Redis, the node's primary), so local counting goes on from it. */
  set(key: string, count: number, resetAtMs: number): void {
    const w = this.windows.get(key);
    if (w === undefined) this.windows.set(key, { count, resetAtMs });
    else {
      w.count = count;
      w.resetAtMs = resetAtMs;
    }
  }

  sweep(now: number): void {
    for (const [key, w] of this.windows) if (w.resetAtMs <= now) this.windows.delete(key);
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}
