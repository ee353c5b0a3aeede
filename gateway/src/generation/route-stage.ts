import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Route } from '../../../spec/route.js';
import type { ConfigState, ConfigStore } from '../store/port.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { Caller } from '../contracts/caller.js';

export type { Caller } from '../contracts/caller.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by an auth stage. */
    caller: Caller | undefined;
    /** Request headers a stage consumed (credentials) that must not go upstream. */
    consumedHeaders: string[] | undefined;
    /** Raw bytes of a body that was parsed for validation; forwarded unchanged. */
    rawBody: Buffer | undefined;
    /** Set by the token-meter stage: its tap on the proxied answer. */
    responseTap: import('../contracts/response-tap.js').ResponseTap | undefined;
  }
}

/** Whether the node serves the store's newest revision (reported on /healthz and the admin API). */
export interface ConfigStatus {
  /** The revision in force; -1 when no stored revision compiles (system routes only, 503 otherwise). */
  servingRevision: number;
  /** True when a newer revision than the one in force failed to compile. */
  degraded: boolean;
  newestRevision?: number;
  /** Why the newest revision does not compile. */
  error?: string;
  failedAt?: string;
}

/** Long-lived services stages may use; they outlive generations (keys, counters, JWKS caches). */
export interface StageServices {
  logger: FastifyBaseLogger;
  /** The node's store (key last-use batches write through it). */
  store: ConfigStore;
  /** The node's metrics (429 counts, Redis state). */
  metrics: GatewayMetrics;
  /** REDIS_URL: shared rate-limit counters when set. */
  redisUrl: string | undefined;
  /** WORKERS > 1: request-limit and quota counters shared by the node's workers (in its primary). */
  nodeCounters?: import('../contracts/node-counters.js').NodeCounters | undefined;
  /** Anything a stage family keeps across generations, by stage name. */
  shared: Map<string, unknown>;
  /**
   * The client's address: the socket peer, or — when the peer is one of the node's trusted
   * proxies (TRUSTED_PROXIES) — the nearest untrusted x-forwarded-for hop. IP lists, per-IP
   * limits and x-forwarded-for all use this one answer.
   */
  clientIp(req: import('node:http').IncomingMessage): string;
  /** Where one line per answered request goes (ACCESS_LOG=1); undefined = no access log. */
  accessLog: import('../contracts/access-log.js').AccessLog | undefined;
  /** The node's configuration status, for /healthz. */
  configStatus?(): ConfigStatus;
  /** Run `close` when the node shuts down (flush batches, quit clients). */
  onClose(close: () => void | Promise<void>): void;
}

export interface GenerationContext {
  state: ConfigState;
  services: StageServices;
}

/**
 * A per-route request stage (auth, rate limit, validation, CORS, IP restriction…). Each lives in
 * plugins/<name>/ and adds hooks to the route's own encapsulated Fastify context, so one route's
 * stages never leak into another's.
 */
export interface RouteStage {
  readonly name: string;
  applies(route: Route): boolean;
  register(app: FastifyInstance, route: Route, ctx: GenerationContext): void | Promise<void>;
}
