/**
 * Retries may add at most `percent` of the first attempts seen in the last window (with a
 * floor so a quiet pool can still retry): during an outage this stops retries from
 * multiplying load on whatever is left (Envoy's retry budget, Finagle's RetryBudget).
 */
export class RetryBudget {
  private windowStart = 0;
  private attempts = 0;
  private retries = 0;
  private previousAttempts = 0;
  private previousRetries = 0;

  constructor(
    private readonly percent: number,
    private readonly minPerWindow = 3,
    private readonly windowMs = 1000,
  ) {}

  private roll(now: number): void {
    if (now - this.windowStart < this.windowMs) return;
    const elapsedWindows = Math.floor((now - this.windowStart) / this.windowMs);
    this.previousAttempts = elapsedWindows === 1 ? this.attempts : 0;
    this.previousRetries = elapsedWindows === 1 ? this.retries : 0;
    this.attempts = 0;
    this.retries = 0;
    this.windowStart = now;
  }

  recordAttempt(now = Date.now()): void {
    this.roll(now);
    this.attempts++;
  }

  /** Take one retry token if the budget allows it. */
  tryRetry(now = Date.now()): boolean {
    this.roll(now);
    const base = this.attempts + this.previousAttempts;
    const used = this.retries + this.previousRetries;
    const allowed = Math.max(this.minPerWindow, (base * this.percent) / 100);
    if (used >= allowed) return false;
    this.retries++;
    return true;
  }
}
