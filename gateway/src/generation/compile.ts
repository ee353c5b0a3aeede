import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type RouteOptions } from 'fastify';
import type { Route } from '../../../spec/route.js';
import type { UpstreamPool } from '../balancer/upstream-pool.js';
import { problem, ProblemError, writeProblem } from '../errors.js';
import { RouteProxy } from '../proxy/route-proxy.js';
import { shareStickySecret } from '../proxy/route-stickiness.js';
import type { ConfigState } from '../store/port.js';
import { Generation } from './generation.js';
import type { GenerationContext, RouteStage, StageServices } from './route-stage.js';
import { newRequestId } from './request-id.js';
import type { RequestObserver } from '../contracts/request-observer.js';
import { TimeSlicer } from './time-slice.js';
import { buildFrontRouter, ROUTER_OPTIONS, RouteCompileError, type FastLane, type LaneRoute } from './front-router.js';
import { sendProblem, toProblem } from './fastify-problems.js';
import { pathOf } from '../contracts/access-log.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Handed to the proxy, which counts it when it ends (the gateway's own answers are counted by onResponse). */
    proxied: boolean;
  }
  interface FastifyContextConfig {
    /** The configured route's name, for the metrics of the answers the gateway gives itself. */
    route?: string;
  }
}

export interface CompileDeps {
  pools: ReadonlyMap<string, UpstreamPool>;
  stages: readonly RouteStage[];
  services: StageServices;
  observer: RequestObserver | undefined;
  /** Extra routes every generation serves (docs portal, /healthz). */
  systemRoutes?: ((app: FastifyInstance, state: ConfigState) => void | Promise<void>) | undefined;
  /** Set when no stored revision compiles: every non-system request gets a 503 saying this. */
  unavailable?: string | undefined;
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** A configured host matches with or without a port, in any case (Kong's rule); `host:port` matches exactly. */
function hostMatcher(host: string): string | RegExp {
  if (host.includes(':')) return host.toLowerCase();
  return new RegExp(`^${host.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(:\\d+)?$`, 'i');
}

/**
 * Stage routes per encapsulation bucket. Fastify's hook runner (onReady at ready(), preClose at
 * close()) walks an instance's children recursively and goes on from one childless, hookless
 * child to its next sibling synchronously, so the stack grows with the number of siblings: about
 * 1 900 route scopes under one parent overflowed it (fastify/fastify#6843 is the same family).
 * A parent with children finishes through avvio's queue and unwinds, so buckets bound the depth.
 */
const SCOPES_PER_BUCKET = 64;

/**
 * A plugin function with a display name. Fastify names every plugin it registers, and for an
 * anonymous one it searches the whole of require.cache: ≈ 0.5 ms per route scope here.
 */
function named<F extends (scope: FastifyInstance) => Promise<void>>(name: string, plugin: F): F {
  (plugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = name;
  return plugin;
}

/** A route no stage applies to and with no schema: served by the front router's fast lane alone. */
function isPlain(route: Route, stages: readonly RouteStage[]): boolean {
  if (route.schema?.body || route.schema?.querystring || route.schema?.headers) return false;
  return !stages.some((stage) => stage.applies(route));
}

/**
 * Turn one configuration revision into a ready Fastify instance and its front router. Routes
 * with stages get one encapsulated Fastify context each (a stage's hooks and plugins are
 * scope-wide), grouped in buckets; routes without stages never enter Fastify (see
 * buildFrontRouter). Work is cut into slices that yield to the event loop, so a large revision
 * compiles while the old generation keeps serving. Throws (and the caller keeps the old
 * generation) when anything about the revision is wrong; the caller closes nothing on failure
 * but what it gets back, so a failed instance is closed here.
 */
export async function compileGeneration(state: ConfigState, deps: CompileDeps): Promise<Generation> {
  let captured: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const app = Fastify({
    // The instance never listens: the node's one http.Server hands it requests.
    serverFactory: (handler) => {
      captured = handler;
      return createServer();
    },
    logger: false,
    requestIdHeader: 'x-request-id',
    genReqId: newRequestId,
    bodyLimit: 10 * 1024 * 1024,
    // A 400 must name every failing field, not the first; and a schema's additionalProperties:
    // false must refuse extra fields, not silently drop them from a parsed copy (the raw body
    // is what goes upstream).
    ajv: { customOptions: { allErrors: true, removeAdditional: false } },
    return503OnClosing: false,
    routerOptions: { ...ROUTER_OPTIONS },
    trustProxy: false,
  });
  try {
    return await compileInto(app, state, deps, () => captured);
  } catch (err) {
    // Whatever the instance got to (stage clients, timers) goes with it; its own errors are moot.
    await Promise.resolve()
      .then(() => app.close())
      .catch(() => {});
    throw err;
  }
}

async function compileInto(
  app: FastifyInstance,
  state: ConfigState,
  deps: CompileDeps,
  handlerOf: () => ((req: IncomingMessage, res: ServerResponse) => void) | undefined,
): Promise<Generation> {
  app.decorateRequest('caller', undefined);
  app.decorateRequest('consumedHeaders', undefined);
  app.decorateRequest('rawBody', undefined);
  app.decorateRequest('proxied', false);
  app.decorateRequest('responseTap', undefined);

  const unavailable = deps.unavailable;
  app.setNotFoundHandler((request, reply) => {
    if (unavailable !== undefined) return sendProblem(reply, problem(503, 'configuration-unavailable', unavailable, { instance: request.id }));
    sendProblem(reply, problem(404, 'no-route', `no route matches ${request.method} ${request.url.split('?')[0]}`, { instance: request.id }));
  });
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { p, headers } = toProblem(err, request);
    if (p.status >= 500) deps.services.logger.error({ err, requestId: request.id }, 'request failed inside the gateway');
    sendProblem(reply, p, headers);
  });

  // Every route Fastify gets is mirrored into the node's front router (see buildFrontRouter).
  const registered: RouteOptions[] = [];
  app.addHook('onRoute', (options) => void registered.push(options));

  // Every answer the gateway gives itself (404, 401, 403, 413, 429, 400, 503…) is counted and
  // logged like a proxied one, under its route (`none` when none matched). Fastify runs
  // onResponse for hijacked replies too, so a proxied request — counted and logged by its
  // exchange when it ends — is skipped here. One hook for both: it runs on every staged request.
  const accessLog = deps.services.accessLog;
  const observer = deps.observer;
  if (accessLog || observer)
    app.addHook('onResponse', (request, reply, done) => {
      if (request.proxied) return done();
      observer?.completed(request.routeOptions.config.route ?? 'none', reply.statusCode, reply.elapsedTime);
      accessLog?.write({
        requestId: request.id,
        method: request.method,
        path: pathOf(request.url),
        status: reply.statusCode,
        durationMs: reply.elapsedTime,
        route: request.routeOptions.config.route,
        target: undefined,
        consumer: request.caller?.name,
        clientIp: deps.services.clientIp(request.raw),
        attempts: 0,
      });
      done();
    });

  await deps.systemRoutes?.(app, state);
  shareStickySecret(state.secrets);

  const ctx: GenerationContext = { state, services: deps.services };
  const lanes: LaneRoute[] = [];
  const staged: Array<{ route: Route; pool: UpstreamPool }> = [];
  // Slices that yield to the event loop: the old generation keeps serving while this one builds.
  const slicer = new TimeSlicer();
  for (const route of state.routes) {
    const due = slicer.due();
    if (due) await due;
    if (route.enabled === false) continue;
    const pool = deps.pools.get(route.upstream);
    if (!pool) throw new Error(`route "${route.name}" names unknown upstream "${route.upstream}"`);
    if (isPlain(route, deps.stages)) lanes.push(...laneRoutes(route, new RouteProxy(route, pool, deps.services, deps.observer), deps.observer));
    else staged.push({ route, pool });
  }

  for (let first = 0; first < staged.length; first += SCOPES_PER_BUCKET) {
    const bucket = staged.slice(first, first + SCOPES_PER_BUCKET);
    await app.register(
      named('switchboard-routes', async (parent) => {
        for (const { route, pool } of bucket)
          await parent.register(named('switchboard-route', async (scope) => routeScope(scope, route, new RouteProxy(route, pool, deps.services, deps.observer), ctx, deps)));
      }),
    );
    const due = slicer.due();
    if (due) await due;
  }

  await app.ready();
  const handler = handlerOf();
  if (!handler) throw new Error('fastify did not hand over its request handler');
  const headOnlyRoutes = state.routes.some((r) => r.enabled !== false && r.methods?.includes('HEAD') && !r.methods.includes('GET'));
  return new Generation(state.revision, app, await buildFrontRouter(registered, lanes, handler, { headOnlyRoutes }));
}

/** The front-router entries of a route without stages: one per path and host, all on one lane. */
function laneRoutes(route: Route, proxy: RouteProxy, observer: RequestObserver | undefined): LaneRoute[] {
  const bodyLimit = proxy.bodyLimit;
  const lane: FastLane = (req, res) => {
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && given !== '' ? given : newRequestId();
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > bodyLimit) {
      const p = problem(413, 'body-too-large', `request body of ${length} bytes exceeds the route's limit of ${bodyLimit} bytes`, { instance: requestId });
      writeProblem(res, p, { 'x-request-id': requestId, connection: 'close' });
      observer?.completed(route.name, 413, 0);
      return;
    }
    proxy.forward(req, res, requestId, undefined);
  };
  const methods = route.methods ?? ['GET', 'POST'];
  const out: LaneRoute[] = [];
  route.paths.forEach((url, n) => {
    for (const host of route.hosts?.length ? route.hosts : [undefined])
      out.push({ field: `/routes/${route.name}/paths/${n}`, methods, url, constraints: host ? { host: hostMatcher(host) } : undefined, lane });
  });
  return out;
}

async function routeScope(scope: FastifyInstance, route: Route, proxy: RouteProxy, ctx: GenerationContext, deps: CompileDeps): Promise<void> {
  const bodyLimit = proxy.bodyLimit;
  // meterStreams may add stream_options.include_usage to a streamed request, so it reads the body too.
  const readsBody = route.schema?.body !== undefined || route.meterStreams === true;

  scope.removeAllContentTypeParsers();
  if (readsBody) {
    // The body must be parsed to be validated; keep its bytes and forward those unchanged.
    scope.addContentTypeParser(['application/json', 'application/*+json'], { parseAs: 'buffer', bodyLimit }, (request, body, done) => {
      request.rawBody = body as Buffer;
      if ((body as Buffer).length === 0) return done(null, undefined);
      try {
        done(null, JSON.parse((body as Buffer).toString('utf8')));
      } catch (err) {
        done(new ProblemError(400, 'malformed-json', `the request body is not valid JSON: ${(err as Error).message}`), undefined);
      }
    });
    scope.addContentTypeParser('*', (_request, _payload, done) => {
      done(new ProblemError(415, 'unsupported-media-type', `route "${route.name}" validates its body and accepts JSON only`), undefined);
    });
  } else {
    // Streams straight through: leave the payload unread for the proxy; only check the size.
    scope.addContentTypeParser('*', (request, _payload, done) => {
      const length = Number(request.headers['content-length'] ?? 0);
      if (length > bodyLimit)
        return done(new ProblemError(413, 'body-too-large', `request body of ${length} bytes exceeds the route's limit of ${bodyLimit} bytes`), undefined);
      done(null, undefined);
    });
  }

  for (const stage of deps.stages) if (stage.applies(route)) await stage.register(scope, route, ctx);

  const handler = (request: FastifyRequest, reply: FastifyReply): void => {
    request.proxied = true;
    reply.hijack();
    const replyHeaders = reply.getHeaders();
    proxy.forward(request.raw, reply.raw, request.id, {
      consumerName: request.caller?.name,
      consumed: request.consumedHeaders,
      consumer: request.caller?.consumer,
      body: readsBody ? request.rawBody : undefined,
      replyHeaders: Object.keys(replyHeaders).length ? replyHeaders : undefined,
      tap: request.responseTap,
    });
  };

  const hosts = route.hosts?.length ? route.hosts : [undefined];
  for (const [n, path] of route.paths.entries()) {
    for (const host of hosts) {
      // Fastify inserts into its router here, synchronously: name the route if it is refused.
      try {
        addRoute(path, host);
      } catch (err) {
        throw new RouteCompileError(`/routes/${route.name}/paths/${n}`, `"${path}" ${(err as Error).message}`);
      }
    }
  }

  function addRoute(path: string, host: string | undefined): void {
    scope.route({
      method: route.methods ?? ['GET', 'POST'],
      // find-my-way's trailing `*` is the contract's `/prefix/*` as is.
      url: path,
      bodyLimit,
      config: { route: route.name },
      ...(host ? { constraints: { host: hostMatcher(host) } } : {}),
      schema: {
        ...(route.schema?.body && route.methods?.some((m) => BODY_METHODS.has(m)) ? { body: route.schema.body } : {}),
        ...(route.schema?.querystring ? { querystring: route.schema.querystring } : {}),
        ...(route.schema?.headers ? { headers: route.schema.headers } : {}),
      },
      handler,
    });
  }
}
