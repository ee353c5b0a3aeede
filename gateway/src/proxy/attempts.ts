import type { PickContext, PoolMember } from '../balancer/picker.js';
import type { Member, NoTarget } from '../balancer/upstream-pool.js';
import type { ProxyRoute } from './proxy-route.js';

/**
 * The attempts of one proxied request and the policy that allows another, in the order the
 * proxy meets them (undici keeps its retry logic in a handler of its own the same way):
 *
 * 1. `next()` picks the target: the sticky one first if a stage chose it, otherwise the pool's
 *    pick avoiding every target this request already tried.
 * 2. `headersTimeout()` bounds the wait for that target's response headers: what is left of the
 *    route's `timeoutMs`, and at most `perTryTimeoutMs` when the request could be retried after
 *    it, so one frozen worker costs a retry rather than the whole request.
 * 3. `mayRetry(failure)` decides whether a failure before the response started may be retried
 *    on another target: within `retries`, before the deadline, with a replayable body, and — for
 *    anything but a refused connection — for idempotent methods (or `retryNonIdempotent`) with a
 *    token from the pool's retry budget, unless health checking has taken the failed target out.
 * 4. `settle()` gives the budget tokens back when the request ends.
 */

/** Why an attempt failed before any response byte reached the client. */
export type Failure = 'connect' | 'timeout' | 'reset' | 'status';

/** Methods RFC 9110 §9.2.2 calls idempotent: sending them twice does no extra harm. */
const IDEMPOTENT: Record<string, true> = { GET: true, HEAD: true, OPTIONS: true, PUT: true, DELETE: true, TRACE: true };
/** Answers a gateway may retry elsewhere: the target could not serve the request now. */
export const RETRYABLE_STATUS: Record<number, true> = { 502: true, 503: true, 504: true };

/** undici's error codes, as the retry policy and passive health see them. */
export function classify(err: Error & { code?: string }): Exclude<Failure, 'status'> {
  switch (err.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    default:
      return 'reset';
  }
}

export class Attempts {
  /** Targets this request has been sent to, in order (the last is the current one). */
  readonly tried: PoolMember[] = [];
  /** epoch ms by which the whole request must have its answer (route `timeoutMs`). */
  readonly deadline: number;
  private readonly idempotent: boolean;
  /** Retry-budget tokens this request holds; returned by settle(). */
  private tokens = 0;

  constructor(
    private readonly route: ProxyRoute,
    method: string,
    /** A fallback pool's attempts keep the request's deadline (fallbacks.ts). */
    deadline?: number,
  ) {
    this.deadline = deadline ?? Date.now() + route.timeoutMs;
    this.idempotent = IDEMPOTENT[method] === true;
    route.budget.requestStarted();
  }

  get count(): number {
    return this.tried.length;
  }

  get current(): PoolMember | undefined {
    return this.tried[this.tried.length - 1];
  }

  /** Whether a failure of this kind could ever be retried for this request (body aside). */
  get retriesOnTimeout(): boolean {
    return this.route.retries > 0 && (this.idempotent || this.route.retryNonIdempotent);
  }

  /** 1. The target for the next attempt, or why the pool has none. */
  next(ctx: PickContext, preferred: PoolMember | undefined): Member | NoTarget {
    const picked = this.tried.length === 0 && preferred ? (preferred as Member) : this.route.pool.pick(ctx, this.tried);
    if (typeof picked !== 'string') this.tried.push(picked);
    return picked;
  }

  /** 2. How long this attempt may wait for response headers, in ms. */
  headersTimeout(): number {
    const remaining = Math.max(1, this.deadline - Date.now());
    const perTry = this.route.perTryTimeoutMs;
    if (perTry === undefined || perTry >= remaining || !this.retriesOnTimeout || this.tried.length > this.route.retries) return remaining;
    return perTry;
  }

  /**
   * 3. Whether the attempt that just failed this way may be retried on another target.
   * `replayable`: the request body can be sent again (none, buffered, or a stream not yet read).
   */
  mayRetry(failure: Failure, replayable: boolean): boolean {
    if (this.tried.length > this.route.retries) return false;
    if (Date.now() >= this.deadline) return false;
    // A streamed request body that has started flowing cannot be replayed.
    if (!replayable) return false;
    // A refused connection never reached the target: retrying it is the request's first real
    // attempt, not extra load, so it is exempt from the budget.
    if (failure === 'connect') return true;
    if (!this.idempotent && !this.route.retryNonIdempotent) return false;
    // A target that health checking has just taken out (this failure may have been the one that
    // ejected it) takes no more requests anyway: retrying away from it moves load the pool has
    // already moved, it multiplies nothing, so like a refused connection it needs no token. Only
    // the attempts that made the verdict draw on the budget — otherwise a burst waiting on one
    // frozen worker times out together and the budget turns most of it into 504s.
    if (this.current !== undefined && !this.current.target.isUp()) return true;
    if (!this.route.budget.tryRetry()) return false;
    this.tokens++;
    return true;
  }

  /**
   * The retries are over though the request goes on (a WebSocket's tunnel, once its handshake is
   * answered): give back the budget's tokens now, or a few long tunnels would hold the pool's
   * whole budget for their lifetime.
   */
  retriesOver(): void {
    this.route.budget.retriesEnded(this.tokens);
    this.tokens = 0;
  }

  /** 4. The request is over: give back the budget's tokens (called exactly once). */
  settle(): void {
    this.route.budget.requestEnded(this.tokens);
  }
}
