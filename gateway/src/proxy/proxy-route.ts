import type { PickContext, PoolMember } from '../balancer/picker.js';
import type { UpstreamPool } from '../balancer/upstream-pool.js';
import type { AccessLog } from '../contracts/access-log.js';
import type { RequestObserver } from '../contracts/request-observer.js';
import type { ErrorFormat } from '../contracts/error-format.js';
import type { ResponseTap } from '../contracts/response-tap.js';
import type { ForwardedFacts } from './headers.js';
import type { RetryBudget } from './retry-budget.js';

/** What the proxy needs of a route; built once per route per generation (route-proxy.ts). */
export interface ProxyRoute {
  readonly name: string;
  readonly pool: UpstreamPool;
  readonly budget: RetryBudget;
  readonly stripPrefix: string | undefined;
  /** The whole request: the wait for headers, and an ordinary body to its last byte. */
  readonly timeoutMs: number;
  /** One attempt's wait for response headers when the request may be retried (Envoy's per_try_timeout). */
  readonly perTryTimeoutMs: number | undefined;
  readonly idleTimeoutMs: number;
  /** No byte either way on an upgraded (WebSocket) connection for this long closes it (upgrade.ts). */
  readonly upgradeIdleTimeoutMs: number;
  readonly retries: number;
  readonly retryNonIdempotent: boolean;
  readonly bodyLimit: number;
  /** Told of the request's end (metrics), with the status the client saw (0 = cut). */
  readonly observer: RequestObserver | undefined;
  readonly accessLog: AccessLog | undefined;
  /** How the proxy writes its own errors (502/503/504, 413) on this route; problem+json when unset. */
  readonly errorFormat: ErrorFormat | undefined;
  /** The route's fallback pools, in order (fallbacks.ts); undefined on nearly every route. */
  readonly fallbacks: readonly FallbackHop[] | undefined;
  readonly fellBack: FallbackNotice | undefined;
  /** prefix-affinity pools: the pick's key comes from the request body (read before the pick). */
  readonly keyFromBody: ((body: Buffer) => string | undefined) | undefined;
}

/** How a consumer's requests share a saturated pool's queue (spec/consumer.ts). */
export interface FlowClass {
  readonly weight?: number | undefined;
  readonly priority?: number | undefined;
}

/** One of a route's fallback pools (fallbacks.ts): the route's settings with that pool, and the model it serves. */
export interface FallbackHop {
  readonly route: ProxyRoute;
  readonly rewriteModel: string | undefined;
}

/** Told of each fallback (metrics `switchboard_fallbacks_total`, the log). */
export type FallbackNotice = (route: string, from: string, to: string, reason: string, requestId: string) => void;

/** One request's facts from the stages before the proxy. */
export interface ForwardRequest extends ForwardedFacts {
  /** A body already read (the route validates it); otherwise the raw request streams through. */
  body: Buffer | undefined;
  /** Headers set by earlier stages (rate-limit headers, sticky cookie…) for the client response. */
  replyHeaders: Record<string, unknown> | undefined;
  /** A stage's tap on the answer (token metering); undefined on every other route. */
  tap?: ResponseTap | undefined;
  pickContext: PickContext;
  /** The consumer's `weight` and `priority`, for the pool's queue (flow control). */
  flowClass: FlowClass | undefined;
  /** Lets a stage (sticky sessions) choose the first target itself. */
  preferred: PoolMember | undefined;
  /** Response headers the proxy adds once a target is known (sticky cookie). */
  onTarget: ((member: PoolMember) => Record<string, string> | undefined) | undefined;
}
