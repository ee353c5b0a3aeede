import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '../../../spec/route.js';
import { clientIpFor, TrustedProxies } from '../balancer/client-ip.js';
import { hashKeyFor } from '../balancer/hash-key.js';
import type { PoolMember } from '../balancer/picker.js';
import type { UpstreamPool } from '../balancer/upstream-pool.js';
import type { RequestObserver } from '../contracts/request-observer.js';
import type { AccessLog } from '../contracts/access-log.js';
import type { ResponseTap } from '../contracts/response-tap.js';
import { forward } from './forward.js';
import { fallbackHops, fallbackNotice } from './fallbacks.js';
import type { FlowClass, ProxyRoute } from './proxy-route.js';
import { prefixKeyOf } from '../balancer/prefix-key.js';
import { retryBudgetFor } from './retry-budget.js';
import { stickiness } from './route-stickiness.js';

/** What a route's stages learned about a request, for the proxy (absent on the fast lane). */
export interface StageFacts {
  readonly consumerName: string | undefined;
  /** Request headers a stage consumed (credentials) that must not go upstream. */
  readonly consumed: string[] | undefined;
  /** The body a stage read to validate it; forwarded as read. */
  readonly body: Buffer | undefined;
  /** The caller's consumer (its flow-control weight and priority). */
  readonly consumer?: FlowClass | undefined;
  /** Headers stages set for the client response (rate-limit headers…). */
  readonly replyHeaders: Record<string, unknown> | undefined;
  /** A stage's tap on the answer (token metering). */
  readonly tap?: ResponseTap | undefined;
}

/** prefix-affinity reads its key from the JSON body; every other algorithm leaves the body alone. */
function prefixKeyReader(pool: UpstreamPool): ((body: Buffer) => string | undefined) | undefined {
  if (pool.spec.algorithm !== 'prefix-affinity') return undefined;
  const chars = pool.spec.prefixAffinity?.prefixChars ?? 1024;
  return (body) => prefixKeyOf(body, chars);
}

/** What the proxy takes from the node: its answer to "who is the client?" and its access log. */
export interface RouteProxyServices {
  clientIp(req: IncomingMessage): string;
  readonly accessLog: AccessLog | undefined;
  /** Where a fallback to another pool is logged. */
  readonly logger?: { warn(obj: object, msg: string): void };
}

export const DEFAULT_TIMEOUT_MS = 120_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/** Envoy's stream idle timeout: long enough for WebSocket clients that ping every minute or so. */
export const DEFAULT_UPGRADE_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_BODY_LIMIT = 10 * 1024 * 1024;

/**
 * One route's way to its upstream, built once per route per generation and shared by the
 * route's Fastify handler and its fast lane: the proxy settings, the client address (the
 * upstream's own trusted proxies first, then the node's), the `hashOn` key and cookie
 * stickiness. Per request it only reads what this route needs; a route without hashOn or
 * stickiness pays nothing for them.
 */
export class RouteProxy {
  readonly bodyLimit: number;
  private readonly route: ProxyRoute;
  private readonly hashOn: UpstreamPool['spec']['hashOn'];
  private readonly trusted: TrustedProxies | undefined;
  private readonly sticky: ReturnType<typeof stickiness>;
  private readonly clientIpOf: (req: IncomingMessage) => string;

  constructor(route: Route, pool: UpstreamPool, services: RouteProxyServices, observer: RequestObserver | undefined, pools?: ReadonlyMap<string, UpstreamPool>) {
    this.bodyLimit = route.bodyLimit ?? DEFAULT_BODY_LIMIT;
    this.route = {
      name: route.name,
      pool,
      budget: retryBudgetFor(pool),
      stripPrefix: route.stripPrefix,
      timeoutMs: route.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      perTryTimeoutMs: route.perTryTimeoutMs,
      idleTimeoutMs: route.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      upgradeIdleTimeoutMs: route.upgradeIdleTimeoutMs ?? DEFAULT_UPGRADE_IDLE_TIMEOUT_MS,
      retries: route.retries ?? 1,
      retryNonIdempotent: route.retryNonIdempotent ?? false,
      bodyLimit: this.bodyLimit,
      observer,
      accessLog: services.accessLog,
      errorFormat: route.errorFormat,
      fallbacks: undefined,
      fellBack: undefined,
      keyFromBody: prefixKeyReader(pool),
    };
    if (route.fallbacks?.length)
      this.route = { ...this.route, fallbacks: fallbackHops(route, this.route, pools), fellBack: fallbackNotice(observer, services.logger) };
    this.hashOn = pool.spec.hashOn;
    this.trusted = pool.spec.trustedProxies?.length ? new TrustedProxies(pool.spec.trustedProxies) : undefined;
    this.sticky = stickiness(pool);
    this.clientIpOf = services.clientIp;
  }

  /** Everything after the stages, for both lanes. */
  forward(raw: IncomingMessage, res: ServerResponse, requestId: string, stage: StageFacts | undefined): void {
    const clientIp = this.trusted ? clientIpFor(raw, this.trusted) : this.clientIpOf(raw);
    const consumerName = stage?.consumerName;
    const sticky = this.sticky;
    const stuckTo = sticky?.find(raw.headers.cookie);
    forward(this.route, raw, res, {
      clientIp,
      // TLS_PORT's sockets (HTTP/1.1 and HTTP/2 alike) are TLSSockets; the plain port's are not.
      proto: (raw.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http',
      requestId,
      consumerName,
      remove: stage?.consumed,
      body: stage?.body,
      replyHeaders: stage?.replyHeaders,
      tap: stage?.tap,
      pickContext: { clientIp, hashKey: this.hashOn ? hashKeyFor(this.hashOn, raw, clientIp, consumerName) : undefined },
      preferred: stuckTo,
      flowClass: stage?.consumer,
      onTarget: sticky && ((member: PoolMember) => (member === stuckTo ? undefined : sticky.cookieFor(member))),
    });
  }
}
