/** A fixed window's count after one more hit, as @fastify/rate-limit's store interface hands it back. */
export interface WindowCount {
  current: number;
  /** Milliseconds until the window resets. */
  ttl: number;
}

/** One answer's tokens for the usage ledger (plugins/token-meter/usage-ledger.ts), as a worker records it. */
export interface UsageRecord {
  consumerId: string;
  route: string;
  model: string;
  counts: Partial<Record<'prompt' | 'completion' | 'unknown', number>>;
  atMs: number;
}

/** A usage query as the admin API asks it; the answer is the ledger's series (UsageSeries). */
export interface UsageQuery {
  consumerId: string;
  fromMs: number;
  toMs: number;
  granularity: 'minute' | 'hour' | 'day';
}

/**
 * Request-limit, quota, token-budget and token-usage counters shared by the processes of one node (WORKERS > 1): the
 * cluster's primary holds them, each worker asks over IPC. Without them every worker would count
 * alone and a node of N workers would admit N× every limit. A promise that rejects (the primary
 * is gone or slow) tells the caller to count in its own memory instead.
 */
export interface NodeCounters {
  /** Count one hit in `key`'s fixed window of `windowMs` (the first hit starts it). */
  window(key: string, windowMs: number): Promise<WindowCount>;
  /** Count one request against a calendar quota that ends at `resetAtMs` (epoch ms). */
  quota(key: string, resetAtMs: number): Promise<number>;
  /**
   * Add `amount` to each counter (a window or period ending at its `resetAtMs`) and hand back
   * the totals in order; `amount` 0 only reads (token budgets: read at admission, charged at the end).
   */
  add(counters: ReadonlyArray<{ key: string; resetAtMs: number }>, amount: number): Promise<number[]>;
  /** Add one answer's tokens to the node's usage ledger (fire and forget). */
  recordUsage(record: UsageRecord): void;
  /** The node's usage series (every worker's answers), as the ledger's `query` gives it. */
  queryUsage(query: UsageQuery): Promise<unknown>;
}
