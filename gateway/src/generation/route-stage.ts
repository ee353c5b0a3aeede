import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, FastifySchemaCompiler, HookHandlerDoneFunction, RouteHandlerMethod } from 'fastify';
import type { Route } from '../../../spec/route.js';
import type { ConfigState, ConfigStore } from '../store/port.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { Caller } from '../contracts/caller.js';
import type { ResponseTap } from '../contracts/response-tap.js';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

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
 * What a stage's hook may read and set on a request: a subset of Fastify's request, so that one
 * hook runs inside Fastify (a route whose body is parsed and validated) and on a stage lane
 * (stage-lane.ts), which serves a staged route without Fastify's request and reply at all.
 */
export interface StageRequest {
  readonly raw: IncomingMessage;
  readonly headers: IncomingHttpHeaders;
  readonly method: string;
  /** The request id (x-request-id as given, or a fresh one). */
  readonly id: string;
  caller: Caller | undefined;
  consumedHeaders: string[] | undefined;
  rawBody: Buffer | undefined;
  /** The parsed body; only a route that validates or rewrites its body has one (never on a stage lane). */
  readonly body: unknown;
  responseTap: ResponseTap | undefined;
}

/** What a stage's hook may do to the answer: a subset of Fastify's reply (see StageRequest). */
export interface StageReply {
  /** Sets a header of the answer, whether the gateway gives it or the upstream does (names are case-insensitive). */
  header(name: string, value: string | number): StageReply;
  code(status: number): StageReply;
  /** Answers now, with the headers set so far; the request goes no further. */
  send(payload?: string): StageReply;
  readonly sent: boolean;
}

/** How a callback hook goes on: with an error, the request is refused (a ProblemError names how). */
export type StageDone = (err?: Error) => void;

/** A request hook a stage adds to one route, callback or async, on the stage contract alone. */
export type StageHook = ((request: StageRequest, reply: StageReply, done: StageDone) => void) | ((request: StageRequest, reply: StageReply) => Promise<unknown>);

/**
 * A hook that needs Fastify's own request or reply (a decorator a scope plugin adds, such as
 * @fastify/jwt's `jwtVerify`): a route with one is served inside Fastify.
 */
export type FastifyStageHook =
  | ((request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void)
  | ((request: FastifyRequest, reply: FastifyReply) => Promise<unknown>);

/**
 * One staged route as its stages build it: hooks for the route alone, not a Fastify context per
 * route. A context per route cost ≈ 15 KB of heap and ≈ 0.5 ms of compile each (10 000 keyed
 * routes: 389 MiB, 5.4 s); the routes share a scope (see RouteStage.scopeKey), and the hooks run
 * after the scope's, in the order added, with Fastify's semantics: as route-level hooks of a
 * route with a schema, through the scope's shared route for any other (shared-route.ts). A stage
 * that needs the path the request matched reads `matchedUrl(request)`, not Fastify's routeOptions.
 */
export interface RouteBuilder {
  /** The shared scope the route lands in, for decorators a stage's setupScope put there. */
  readonly scope: FastifyInstance;
  addHook(name: 'onRequest' | 'preHandler', hook: StageHook): void;
  /** The same for a hook that needs Fastify's request or reply; the route is then served inside Fastify. */
  addFastifyHook(name: 'onRequest' | 'preHandler', hook: FastifyStageHook): void;
  /** How Fastify compiles this route's schemas (the validation stage). */
  setValidatorCompiler(compiler: FastifySchemaCompiler<FastifySchema>): void;
  /** Another route this route serves (CORS's preflights); it gets every hook of this route. */
  route(options: { method: 'OPTIONS'; url: string; constraints?: { host: string }; handler: RouteHandlerMethod }): void;
}

/**
 * A per-route request stage (auth, rate limit, validation, CORS, IP restriction…). Each lives in
 * plugins/<name>/ and adds hooks to its route alone, so one route's stages never leak into
 * another's. A stage that needs a Fastify plugin in the route's scope (@fastify/jwt with the
 * route's audience, @fastify/rate-limit's limiter factory) names it by `scopeKey`: routes whose
 * stages give the same keys share one scope, which `setupScope` prepares once.
 */
export interface RouteStage {
  readonly name: string;
  applies(route: Route): boolean;
  /** What scope-wide setup this route needs from this stage; undefined: none. */
  scopeKey?(route: Route, ctx: GenerationContext): string | undefined;
  /** Prepare a new shared scope for `route`'s key (called once per scope, before its routes). */
  setupScope?(scope: FastifyInstance, route: Route, ctx: GenerationContext): Promise<void>;
  register(builder: RouteBuilder, route: Route, ctx: GenerationContext): void | Promise<void>;
}
