import type { UpstreamPool } from '../balancer/upstream-pool.js';

/**
 * Envoy's retry budget: retries in flight may be at most `percent` of the requests in flight to
 * the same upstream (never fewer than `minConcurrent`). In calm times a retry is always there;
 * in an outage, when every request fails, retries cannot multiply the load on what is left.
 */
export class RetryBudget {
  private activeRequests = 0;
  private activeRetries = 0;

  constructor(
    private readonly percent: number,
    private readonly minConcurrent = 3,
  ) {}

  requestStarted(): void {
    this.activeRequests++;
  }

  /** The request ends; `retries` = how many retry tokens it took. */
  requestEnded(retries: number): void {
    this.activeRequests--;
    this.activeRetries -= retries;
  }

  /** A request that goes on gives back the `retries` tokens it took (Attempts.retriesOver). */
  retriesEnded(retries: number): void {
    this.activeRetries -= retries;
  }

  /** Take a retry token if the budget allows it; the request holds it until it ends. */
  tryRetry(): boolean {
    const allowed = Math.max(this.minConcurrent, (this.activeRequests * this.percent) / 100);
    if (this.activeRetries >= allowed) return false;
    this.activeRetries++;
    return true;
  }

  get inFlight(): { requests: number; retries: number } {
    return { requests: this.activeRequests, retries: this.activeRetries };
  }
}

const budgets = new WeakMap<UpstreamPool, RetryBudget>();

/** One budget per upstream pool, shared by every route that uses it. */
export function retryBudgetFor(pool: UpstreamPool): RetryBudget {
  let budget = budgets.get(pool);
  if (!budget) {
    budget = new RetryBudget(pool.spec.retryBudgetPercent ?? 20);
    budgets.set(pool, budget);
  }
  return budget;
}
