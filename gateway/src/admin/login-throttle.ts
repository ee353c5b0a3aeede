export interface LoginThrottleOptions {
  /** Failures allowed before any wait is imposed. */
  freeAttempts?: number;
  /** First wait after the free attempts; doubles with every further failure. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Entries kept at most (oldest evicted), so a flood of made-up emails cannot grow memory. */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  blockedUntil: number;
  lastFailure: number;
}

/**
 * Slows password guessing down, per key (the login route uses email+address and address alone):
 * a few free failures, then an exponentially growing wait, answered as 429 with Retry-After.
 * A success clears the key. Kept in memory per node: an attacker spreading guesses over nodes
 * gets at most one node's allowance more per node, which the exponential wait still makes useless.
 */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly freeAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: LoginThrottleOptions = {}) {
    this.freeAttempts = options.freeAttempts ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 15 * 60_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Milliseconds until `key` may try again; 0 = now. */
  waitMs(key: string): number {
    const entry = this.entries.get(key);
    if (!entry) return 0;
    return Math.max(0, entry.blockedUntil - this.now());
  }

  failure(key: string): void {
    const now = this.now();
    let entry = this.entries.get(key);
    // A key quiet for longer than the longest wait starts over.
    if (entry && now - entry.lastFailure > this.maxDelayMs) entry = undefined;
    entry ??= { failures: 0, blockedUntil: 0, lastFailure: now };
    entry.failures++;
    entry.lastFailure = now;
    const over = entry.failures - this.freeAttempts;
    if (over >= 0) entry.blockedUntil = now + Math.min(this.baseDelayMs * 2 ** over, this.maxDelayMs);
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  success(key: string): void {
    this.entries.delete(key);
  }
}
