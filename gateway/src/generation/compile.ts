import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchema,
  type FastifySchemaCompiler,
  type onRequestHookHandler,
  type preHandlerHookHandler,
  type RouteOptions,
} from 'fastify';
import type { Route } from '../../../spec/route.js';
import type { UpstreamPool } from '../balancer/upstream-pool.js';
import { problem, ProblemError, writeProblem } from '../errors.js';
import { RouteProxy } from '../proxy/route-proxy.js';
import { shareStickySecret } from '../proxy/route-stickiness.js';
import type { ConfigState } from '../store/port.js';
import { Generation } from './generation.js';
import type { FastifyStageHook, GenerationContext, RouteBuilder, RouteStage, StageHook, StageServices } from './route-stage.js';
import { stageLane, type QueryValidator } from './stage-lane.js';
import { bodyTooLargeDetail, declaredLength } from './body-limit.js';
import { newRequestId } from './request-id.js';
import type { RequestObserver } from '../contracts/request-observer.js';
import { TimeSlicer } from './time-slice.js';
import { buildFrontRouter, ROUTER_OPTIONS, RouteCompileError, type FastLane, type LaneRoute } from './front-router.js';
import { sendProblem, toProblem } from './fastify-problems.js';
import type { ErrorFormat } from '../contracts/error-format.js';
import { CHOSEN_ROUTE, CHOSEN_ROUTE_CONSTRAINT, chosenRouteStrategy, needsSelector, READ_BODY, selector, splitExtension, type Candidate, type Serve } from './route-select.js';
import { modelsList } from './models-list.js';
import { traceOf } from '../contracts/request-tracer.js';
import { selfAnswered, type SelfAnswered } from './self-answered.js';
import { configOf, MATCHED, runMatchedHooks, type MatchedRoute } from './shared-route.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Handed to the proxy, which counts it when it ends (the gateway's own answers are counted by onResponse). */
    proxied: boolean;
  }
  interface FastifyContextConfig {
    /** The configured route's name, for the metrics of the answers the gateway gives itself. */
    route?: string;
    /** The route's errorFormat, read by the error handler (problem+json when unset). */
    errorFormat?: ErrorFormat;
    /** The route's body limit, for the body parsers its shared scope holds. */
    bodyLimit?: number;
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
 * Shared scopes per encapsulation bucket (usually a handful; one per JWT audience). Fastify's
 * hook runner (onReady at ready(), preClose at close()) walks an instance's children recursively
 * and goes on from one childless, hookless child to its next sibling synchronously, so the stack
 * grows with the number of siblings: about 1 900 route scopes under one parent overflowed it (fastify/fastify#6843 is the same family).
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
 * with stages share a few encapsulated Fastify contexts (one per body handling and scope-wide
 * stage setup, see scopeKeyOf); in each, the routes without a schema share one Fastify route
 * that runs the matched route's stages (shared-route.ts), and a route with a schema has its own
 * with its stages as route-level hooks. Routes without stages never enter Fastify (see
 * buildFrontRouter). Work is cut into slices that yield to the
 * event loop, so a large revision compiles while the old generation keeps serving. Throws (and
 * the caller keeps the old generation) when anything about the revision is wrong; the caller
 * closes nothing on failure but what it gets back, so a failed instance is closed here.
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
    // The chosen-route constraint costs nothing until a route uses it (find-my-way derives only constraints in use).
    routerOptions: { ...ROUTER_OPTIONS, constraints: { [CHOSEN_ROUTE_CONSTRAINT]: chosenRouteStrategy } },
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
  const models = unavailable === undefined ? modelsList(state) : undefined;
  app.setNotFoundHandler((request, reply) => {
    if (unavailable !== undefined) return sendProblem(reply, problem(503, 'configuration-unavailable', unavailable, { instance: request.id }));
    if (models?.answer(request, reply)) return;
    sendProblem(reply, problem(404, 'no-route', `no route matches ${request.method} ${request.url.split('?')[0]}`, { instance: request.id }));
  });
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const { p, headers } = toProblem(err, request.id);
    if (p.status >= 500) deps.services.logger.error({ err, requestId: request.id }, 'request failed inside the gateway');
    sendProblem(reply, p, headers, configOf(request).errorFormat);
  });

  // Every route Fastify gets is mirrored into the node's front router (see buildFrontRouter).
  const registered: RouteOptions[] = [];
  app.addHook('onRoute', (options) => void registered.push(options));

  // Every answer the gateway gives itself (404, 401, 403, 413, 429, 400, 503…) is counted and
  // logged like a proxied one, under its route (`none` when none matched). Fastify runs
  // onResponse for hijacked replies too, so a proxied request — counted and logged by its
  // exchange when it ends — is skipped here. One hook for both: it runs on every staged request.
  // The same reporter counts and logs what lanes and selectors refuse outside Fastify.
  const answered = selfAnswered(deps.services, deps.observer);
  if (answered)
    app.addHook('onResponse', (request, reply, done) => {
      if (request.proxied) return done();
      // Read once: Fastify's routeOptions getter builds a fresh object of thirteen fields per read.
      const route = configOf(request).route;
      const consumer = request.caller?.name;
      // A refusal's server span names its route and consumer too ('finish' runs before 'close', where the span ends).
      const trace = traceOf(request.raw);
      if (trace !== undefined && route !== undefined) trace.matched(route, consumer);
      answered(request.raw, request.id, reply.statusCode, route, reply.elapsedTime, consumer);
      done();
    });

  await deps.systemRoutes?.(app, state);
  shareStickySecret(state.secrets);

  const ctx: GenerationContext = { state, services: deps.services };
  const lanes: LaneRoute[] = [];
  const staged: Staged[] = [];
  // Routes sharing a method, path and host with a route that matches on more than the path
  // (route-select.ts) go through one selector per such path; every other route is as before.
  const grouping = selectorGroups(state.routes);
  let fastify: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const toFastify: Serve = (req, res) => fastify!(req, res);
  // Slices that yield to the event loop: the old generation keeps serving while this one builds.
  const slicer = new TimeSlicer();
  for (const route of state.routes) {
    const due = slicer.due();
    if (due) await due;
    if (route.enabled === false) continue;
    const pool = deps.pools.get(route.upstream);
    if (!pool) throw new Error(`route "${route.name}" names unknown upstream "${route.upstream}"`);
    const plain = isPlain(route, deps.stages);
    if (grouping.grouped.has(route.name)) {
      if (plain) grouping.add(route, laneServe(route, new RouteProxy(route, pool, deps.services, deps.observer, deps.pools), answered));
      else {
        // Which Fastify route serves it is known once its scope is built (sharedScope).
        const chosenBy: { serve?: Serve } = {};
        grouping.add(route, (req, res, requestId, body) => chosenBy.serve!(req, res, requestId, body));
        staged.push({ route, pool, grouped: true, chosenBy });
      }
    } else if (plain) lanes.push(...laneRoutes(route, new RouteProxy(route, pool, deps.services, deps.observer), answered));
    else staged.push({ route, pool, grouped: false });
  }
  const logger = deps.services.logger;
  for (const group of grouping.groups.values())
    lanes.push({
      field: group.field,
      methods: [group.method],
      url: group.url,
      constraints: group.host ? { host: hostMatcher(group.host) } : undefined,
      lane: selector(group.candidates, { logger, answered }),
    });

  // Routes whose stages need the same scope-wide setup share one scope (RouteStage.scopeKey).
  const heads = declaredHeads(state.routes);
  const scopes = new Map<string, Staged[]>();
  for (const one of staged) {
    const key = scopeKeyOf(one, deps.stages, ctx);
    const members = scopes.get(key);
    if (members) members.push(one);
    else scopes.set(key, [one]);
  }
  const shared = [...scopes.values()];
  const built: ScopeOutput = { lanes, toFastify, answered, scopes: 0 };
  for (let first = 0; first < shared.length; first += SCOPES_PER_BUCKET) {
    const bucket = shared.slice(first, first + SCOPES_PER_BUCKET);
    await app.register(
      named('switchboard-routes', async (parent) => {
        for (const members of bucket) await parent.register(named('switchboard-scope', async (scope) => sharedScope(scope, members, ctx, deps, slicer, heads, built)));
      }),
    );
    const due = slicer.due();
    if (due) await due;
  }

  await app.ready();
  const handler = handlerOf();
  if (!handler) throw new Error('fastify did not hand over its request handler');
  fastify = handler;
  const headOnlyRoutes = state.routes.some((r) => r.enabled !== false && r.methods?.includes('HEAD') && !r.methods.includes('GET'));
  const front = await buildFrontRouter(registered, lanes, handler, { headOnlyRoutes });
  // Fastify keeps its onRoute hooks, and so this list, for the life of the instance: each entry
  // is a copy of a route's options (≈ 0.3 KB a staged route) that nothing reads any more.
  registered.length = 0;
  // So is every entry the front router was built from (the plugin closures above reach them).
  lanes.length = 0;
  return new Generation(state.revision, app, front);
}

/**
 * Which routes go through a selector (route-select.ts), and the groups: one per method, router
 * path and host that such a route serves, holding every enabled route that serves it too.
 */
function selectorGroups(routes: readonly Route[]) {
  const keyOf = (method: string, host: string | undefined, url: string) => `${method} ${host?.toLowerCase() ?? ''} ${url.replace(/:[^/]+/g, ':')}`;
  const entries = (route: Route) =>
    route.paths.flatMap((path, n) => {
      const { routerPath, extension } = splitExtension(path);
      return (route.methods ?? ['GET', 'POST']).flatMap((method) =>
        (route.hosts?.length ? route.hosts : [undefined]).map((host) => ({ key: keyOf(method, host, routerPath), method, host, routerPath, extension, n })),
      );
    });
  const enabled = routes.filter((r) => r.enabled !== false);
  const keys = new Set(enabled.filter(needsSelector).flatMap((r) => entries(r).map((e) => e.key)));
  const grouped = new Set(enabled.filter((r) => needsSelector(r) || entries(r).some((e) => keys.has(e.key))).map((r) => r.name));
  const groups = new Map<string, { field: string; method: string; url: string; host: string | undefined; candidates: Candidate[] }>();
  return {
    grouped,
    groups,
    add(route: Route, serve: Serve) {
      for (const e of entries(route)) {
        let group = groups.get(e.key);
        if (!group) groups.set(e.key, (group = { field: `/routes/${route.name}/paths/${e.n}`, method: e.method, url: e.routerPath, host: e.host, candidates: [] }));
        group.candidates.push({ route, extension: e.extension, serve });
      }
    },
  };
}

/**
 * A grouped route with stages: Fastify's router finds its route by the chosen-route constraint,
 * the route's name for a route of its own, its scope's id for a shared one (with `matched`).
 */
function chosen(name: string, toFastify: Serve, matched?: MatchedRoute): Serve {
  return (req, res, requestId, body) => {
    req[CHOSEN_ROUTE] = name;
    if (matched !== undefined) req[MATCHED] = matched;
    toFastify(req, res, requestId, body);
  };
}

/** A front-router entry of a shared staged route: the route goes on the request, Fastify's router finds the scope's route. */
function sharedLane(scopeId: string, matched: MatchedRoute, toFastify: Serve): FastLane {
  return (req, res) => {
    req[CHOSEN_ROUTE] = scopeId;
    req[MATCHED] = matched;
    toFastify(req, res, '', undefined);
  };
}

/** A route without stages, as its fast lane serves it: the body checked against its limit (or already read), then the proxy. */
function laneServe(route: Route, proxy: RouteProxy, answered: SelfAnswered | undefined): Serve {
  const bodyLimit = proxy.bodyLimit;
  const format = route.errorFormat;
  return (req, res, requestId, body) => {
    if (body !== undefined) return proxy.forward(req, res, requestId, { consumerName: undefined, consumed: undefined, body: body.bytes, replyHeaders: undefined });
    const length = declaredLength(req.headers);
    if (length > bodyLimit) {
      const p = problem('body-too-large', bodyTooLargeDetail(length, bodyLimit), { instance: requestId });
      writeProblem(res, p, { 'x-request-id': requestId, connection: 'close' }, format);
      answered?.(req, requestId, 413, route.name);
      return;
    }
    proxy.forward(req, res, requestId, undefined);
  };
}

/** The front-router entries of a route without stages: one per path and host, all on one lane. */
function laneRoutes(route: Route, proxy: RouteProxy, answered: SelfAnswered | undefined): LaneRoute[] {
  return laneEntries(route, laneOf(laneServe(route, proxy, answered)), route.paths.entries());
}

/** One front-router entry per path (`[index, path]`) and host of `route`, all on `lane`. */
function laneEntries(route: Route, lane: FastLane, paths: Iterable<[number, string]>): LaneRoute[] {
  const methods = route.methods ?? ['GET', 'POST'];
  const hosts = route.hosts?.length ? route.hosts : [undefined];
  const out: LaneRoute[] = [];
  for (const [n, url] of paths)
    for (const host of hosts) out.push({ field: `/routes/${route.name}/paths/${n}`, methods, url, constraints: host ? { host: hostMatcher(host) } : undefined, lane });
  return out;
}

/**
 * A lane around `serve`, made in a function of its own: a closure keeps its whole scope alive,
 * and laneRoutes' scope holds the entries built for the router (≈ 150 bytes a route for as long
 * as the generation serves).
 */
function laneOf(serve: Serve): FastLane {
  return (req, res) => {
    const given = req.headers['x-request-id'];
    serve(req, res, typeof given === 'string' && given !== '' ? given : newRequestId(), undefined);
  };
}

/** A route with stages, and whether a selector chose it (route-select.ts). */
interface Staged {
  route: Route;
  pool: UpstreamPool;
  grouped: boolean;
  /** A grouped route's selector calls through this, set when the route is built. */
  chosenBy?: { serve?: Serve };
}

/**
 * A staged route without a schema shares its scope's one Fastify route (shared-route.ts); one
 * with a schema keeps its own, so that Fastify compiles and runs its validation as documented.
 */
const sharesScopeRoute = (route: Route): boolean => route.schema === undefined;

/** What building the scopes adds to the generation: front-router entries for the shared routes. */
interface ScopeOutput {
  lanes: LaneRoute[];
  toFastify: Serve;
  /** How stage lanes count and log what they refuse (as the generation's onResponse hook does). */
  answered: SelfAnswered | undefined;
  /** Scopes given a shared route so far; numbers their ids. */
  scopes: number;
}

/** meterStreams may add stream_options.include_usage to a streamed request, so it reads the body too. */
const readsBody = (route: Route): boolean => route.schema?.body !== undefined || route.meterStreams === true;

/** The stages that need scope-wide setup for `route`, each with what it needs (RouteStage.scopeKey). */
function scopeNeeds(route: Route, stages: readonly RouteStage[], ctx: GenerationContext): Array<{ stage: RouteStage; part: string }> {
  const needs: Array<{ stage: RouteStage; part: string }> = [];
  for (const stage of stages) {
    const part = stage.applies(route) ? stage.scopeKey?.(route, ctx) : undefined;
    if (part !== undefined) needs.push({ stage, part });
  }
  return needs;
}

/** The scope a staged route shares: its body handling, then each stage's scope-wide setup. */
function scopeKeyOf({ route, grouped }: Staged, stages: readonly RouteStage[], ctx: GenerationContext): string {
  let key = `${grouped ? 'grouped' : 'own'}:${readsBody(route) ? 'json' : 'stream'}`;
  // Fastify reads a JSON body up to its route's limit: routes sharing one keep one limit.
  if (!grouped && readsBody(route) && sharesScopeRoute(route)) key += `:shared:${route.bodyLimit ?? 'default'}`;
  for (const { stage, part } of scopeNeeds(route, stages, ctx)) key += `|${stage.name}=${part}`;
  return key;
}

/** Whichever route of the shared scope a request matched: its body limit and name, from the route's config. */
function matchedRoute(request: FastifyRequest): { bodyLimit: number; name: string } {
  const config = configOf(request);
  return { bodyLimit: config.bodyLimit ?? 0, name: config.route ?? '' };
}

/** `host path` of a route that serves a path on a host, or on any host. */
const pathKey = (path: string, host: string | undefined): string => `${host?.toLowerCase() ?? ''} ${path}`;

/** Every path (and host) a route declares HEAD for: a staged GET route there leaves HEAD to it (stagedRoute). */
function declaredHeads(routes: readonly Route[]): ReadonlySet<string> {
  const heads = new Set<string>();
  for (const route of routes)
    if (route.enabled !== false && route.methods?.includes('HEAD'))
      for (const path of route.paths) for (const host of route.hosts?.length ? route.hosts : [undefined]) heads.add(pathKey(path, host));
  return heads;
}

/**
 * One shared scope: the body parsers its routes agree on, its stages' setup, then its routes —
 * those without a schema behind the scope's one Fastify route, the others each with their own.
 */
async function sharedScope(
  scope: FastifyInstance,
  members: readonly Staged[],
  ctx: GenerationContext,
  deps: CompileDeps,
  slicer: TimeSlicer,
  heads: ReadonlySet<string>,
  out: ScopeOutput,
): Promise<void> {
  const first = members[0]!;
  bodyParsers(scope, first.grouped, readsBody(first.route));
  // Every member has the same needs (they share the key): the first one's set the scope up.
  for (const { stage } of scopeNeeds(first.route, deps.stages, ctx)) await stage.setupScope?.(scope, first.route, ctx);
  let scopeId: string | undefined;
  const methods = new Set<string>();
  let bodyLimit = 0;
  // No route name has a `#`: a scope's id never meets one in the chosen-route constraint.
  const idOfScope = () => (scopeId ??= `#scope-${out.scopes++}`);
  for (const member of members) {
    const due = slicer.due();
    if (due) await due;
    const proxy = new RouteProxy(member.route, member.pool, deps.services, deps.observer, deps.pools);
    const stages = await stagesOf(scope, member.route, ctx, deps);
    const lane = stageLaneFor(scope, member.route, stages, proxy, deps, out.answered);
    if (lane === undefined && !sharesScopeRoute(member.route)) {
      stagedRoute(scope, member, proxy, stages, heads, out.toFastify);
      continue;
    }
    for (const method of sharedMember(idOfScope, member, proxy, stages, lane, out)) methods.add(method);
    bodyLimit = Math.max(bodyLimit, proxy.bodyLimit);
  }
  if (scopeId !== undefined) scopeRoute(scope, scopeId, methods, bodyLimit);
}

/**
 * The scope's one Fastify route for its routes without a schema. Only a request the front
 * router (or a selector) matched to one of them carries the scope's id, which the chosen-route
 * constraint requires (mustMatchWhenDerived), so `/*` competes with no other route: Fastify
 * finds it for every path, and it runs the matched route's hooks and handler (shared-route.ts).
 */
function scopeRoute(scope: FastifyInstance, scopeId: string, methods: ReadonlySet<string>, bodyLimit: number): void {
  scope.route({
    method: [...methods],
    url: '/*',
    exposeHeadRoute: false,
    bodyLimit,
    constraints: { [CHOSEN_ROUTE_CONSTRAINT]: scopeId },
    onRequest: runMatchedHooks('onRequest', scope),
    preHandler: runMatchedHooks('preHandler', scope),
    handler: (request, reply) => request.raw[MATCHED]!.handler.call(scope, request, reply),
  });
}

function bodyParsers(scope: FastifyInstance, grouped: boolean, readsJson: boolean): void {
  scope.removeAllContentTypeParsers();
  if (grouped) {
    // The selector read the body when this route needs it (route-select.ts): take its bytes.
    scope.addContentTypeParser('*', (request, _payload, done) => {
      const read = request.raw[READ_BODY];
      if (read === undefined) {
        const length = declaredLength(request.headers);
        const { bodyLimit } = matchedRoute(request);
        if (length > bodyLimit) return done(new ProblemError('body-too-large', bodyTooLargeDetail(length, bodyLimit)), undefined);
        return done(null, undefined);
      }
      request.rawBody = read.bytes;
      if (!readsJson || read.bytes.length === 0) return done(null, undefined);
      if (!read.isJson) return done(new ProblemError(415, 'unsupported-media-type', `route "${matchedRoute(request).name}" validates its body and accepts JSON only`), undefined);
      const json = read.json();
      if (json === undefined) return done(new ProblemError(400, 'malformed-json', 'the request body is not valid JSON'), undefined);
      done(null, json);
    });
  } else if (readsJson) {
    // The body must be parsed to be validated; keep its bytes and forward those unchanged. Fastify
    // holds a parser without a limit of its own to the matched route's bodyLimit.
    scope.addContentTypeParser(['application/json', 'application/*+json'], { parseAs: 'buffer' }, (request, body, done) => {
      request.rawBody = body as Buffer;
      if ((body as Buffer).length === 0) return done(null, undefined);
      try {
        done(null, JSON.parse((body as Buffer).toString('utf8')));
      } catch (err) {
        done(new ProblemError(400, 'malformed-json', `the request body is not valid JSON: ${(err as Error).message}`), undefined);
      }
    });
    scope.addContentTypeParser('*', (request, _payload, done) => {
      done(new ProblemError(415, 'unsupported-media-type', `route "${matchedRoute(request).name}" validates its body and accepts JSON only`), undefined);
    });
  } else {
    // Streams straight through: leave the payload unread for the proxy; only check the size.
    scope.addContentTypeParser('*', (request, _payload, done) => {
      const length = declaredLength(request.headers);
      if (length === 0) return done(null, undefined);
      const { bodyLimit } = matchedRoute(request);
      if (length > bodyLimit) return done(new ProblemError('body-too-large', bodyTooLargeDetail(length, bodyLimit)), undefined);
      done(null, undefined);
    });
  }
}

/**
 * A staged route's handler: hands the request, and what its stages learned, to the route's proxy.
 * Made here, not in stagedRoute, so that its closure holds the proxy alone: Fastify keeps the
 * handler for the life of the generation, and a closure keeps every variable its scope shares.
 */
function proxyHandler(proxy: RouteProxy): (request: FastifyRequest, reply: FastifyReply) => void {
  return (request, reply) => {
    request.proxied = true;
    reply.hijack();
    const replyHeaders = reply.getHeaders();
    proxy.forward(request.raw, reply.raw, request.id, {
      consumerName: request.caller?.name,
      consumed: request.consumedHeaders,
      consumer: request.caller?.consumer,
      body: request.rawBody,
      replyHeaders: Object.keys(replyHeaders).length ? replyHeaders : undefined,
      tap: request.responseTap,
    });
  };
}

/** What a route's stages gave it through its builder (route-stage.ts). */
interface StagesOfRoute {
  onRequest: Array<StageHook | FastifyStageHook>;
  preHandler: Array<StageHook | FastifyStageHook>;
  /** A stage added a hook that needs Fastify's own request (addFastifyHook): the route stays in Fastify. */
  needsFastify: boolean;
  /** With a host constraint as hostMatcher makes it. */
  extra: Array<Omit<Parameters<RouteBuilder['route']>[0], 'constraints'> & { constraints?: { host: string | RegExp } }>;
  validatorCompiler: FastifySchemaCompiler<FastifySchema> | undefined;
}

async function stagesOf(scope: FastifyInstance, route: Route, ctx: GenerationContext, deps: CompileDeps): Promise<StagesOfRoute> {
  const got: StagesOfRoute = { onRequest: [], preHandler: [], needsFastify: false, extra: [], validatorCompiler: undefined };
  const builder: RouteBuilder = {
    scope,
    addHook: (name, hook) => void (name === 'onRequest' ? got.onRequest : got.preHandler).push(hook),
    addFastifyHook: (name, hook) => {
      got.needsFastify = true;
      (name === 'onRequest' ? got.onRequest : got.preHandler).push(hook);
    },
    setValidatorCompiler: (compiler) => void (got.validatorCompiler = compiler),
    // A configured host matches as the route's own paths do (hostMatcher): any case, with or without a port.
    route: (options) => void got.extra.push(options.constraints?.host ? { ...options, constraints: { host: hostMatcher(options.constraints.host) } } : options),
  };
  for (const stage of deps.stages) if (stage.applies(route)) await stage.register(builder, route, ctx);
  return got;
}

const configFor = (route: Route, bodyLimit: number) => ({ route: route.name, errorFormat: route.errorFormat, bodyLimit });

/**
 * A staged route served through the front router: on its stage lane (`lane`, stage-lane.ts), or
 * else by its scope's shared Fastify route, its stages' hooks and its handler in a MatchedRoute;
 * either way a front-router entry per path and host (a grouped route: its selector) leads there.
 * Like a lane, a GET route answers HEAD (front-router.ts decides where HEAD goes). Returns the
 * methods the scope's shared route must take for it (none for a stage lane but its extra routes).
 */
function sharedMember(scopeId: () => string, { route, grouped, chosenBy }: Staged, proxy: RouteProxy, stages: StagesOfRoute, lane: Serve | undefined, out: ScopeOutput): string[] {
  if (lane === undefined && stages.validatorCompiler !== undefined) throw new Error(`route "${route.name}": a stage set a validator compiler on a route without a schema`);
  const config = configFor(route, proxy.bodyLimit);
  const matched: MatchedRoute = { config, url: undefined, onRequest: stages.onRequest, preHandler: stages.preHandler, handler: proxyHandler(proxy) };
  const methods = route.methods ?? ['GET', 'POST'];
  const serve = lane ?? chosen(scopeId(), out.toFastify, matched);
  if (grouped) chosenBy!.serve = serve;
  else {
    // A path listed twice is routed once, as a route with a Fastify route of its own is.
    const firstOfEach = [...route.paths.entries()].filter(([n, url]) => route.paths.indexOf(url) === n);
    out.lanes.push(...laneEntries(route, lane !== undefined ? laneOf(lane) : sharedLane(scopeId(), matched, out.toFastify), firstOfEach));
  }
  // Another route this one serves (CORS's preflights): the same hooks, its own handler and path, through the scope's shared route.
  for (const extra of stages.extra) {
    const served: MatchedRoute = { ...matched, url: extra.url, handler: extra.handler as MatchedRoute['handler'] };
    out.lanes.push({ field: `/routes/${route.name}`, methods: [extra.method], url: extra.url, constraints: extra.constraints, lane: sharedLane(scopeId(), served, out.toFastify) });
  }
  const extraMethods = stages.extra.map((e) => e.method);
  return lane !== undefined ? extraMethods : [...methods, ...(methods.includes('GET') ? ['HEAD'] : []), ...extraMethods];
}

/**
 * The stage lane of a staged route (stage-lane.ts), when nothing it needs is Fastify's: no hook
 * that needs Fastify's own request (addFastifyHook), no body to read (a body schema, meterStreams)
 * and no headers schema (Fastify coerces header values in place). A querystring schema is
 * compiled by the route's validator compiler, as Fastify would compile it.
 */
function stageLaneFor(scope: FastifyInstance, route: Route, stages: StagesOfRoute, proxy: RouteProxy, deps: CompileDeps, answered: SelfAnswered | undefined): Serve | undefined {
  if (stages.needsFastify || readsBody(route) || route.schema?.headers !== undefined) return undefined;
  let query: QueryValidator | undefined;
  const schema = route.schema?.querystring;
  if (schema !== undefined) {
    // Without the validation stage's compiler, or for an async schema, Fastify's own validation runs.
    if (stages.validatorCompiler === undefined || (schema as { $async?: unknown }).$async !== undefined) return undefined;
    const method = (route.methods ?? ['GET', 'POST'])[0]!;
    try {
      query = stages.validatorCompiler({ schema, method, url: route.paths[0]!, httpPart: 'querystring' }) as QueryValidator;
    } catch (err) {
      throw new RouteCompileError(`/routes/${route.name}/schema/querystring`, (err as Error).message);
    }
  }
  const lane = { name: route.name, errorFormat: route.errorFormat, onRequest: stages.onRequest as StageHook[], preHandler: stages.preHandler as StageHook[], scope, query, proxy };
  return stageLane(lane, { answered, logger: deps.services.logger });
}

/** A staged route with a schema, in its shared scope with a Fastify route of its own: its stages add route-level hooks, then its paths are routed. */
function stagedRoute(
  scope: FastifyInstance,
  { route, grouped, chosenBy }: Staged,
  proxy: RouteProxy,
  { onRequest, preHandler, extra, validatorCompiler }: StagesOfRoute,
  heads: ReadonlySet<string>,
  toFastify: Serve,
): void {
  const bodyLimit = proxy.bodyLimit;
  if (grouped) chosenBy!.serve = chosen(route.name, toFastify);
  const hooks = {
    ...(onRequest.length ? { onRequest: onRequest as onRequestHookHandler[] } : {}),
    ...(preHandler.length ? { preHandler: preHandler as preHandlerHookHandler[] } : {}),
    ...(validatorCompiler ? { validatorCompiler } : {}),
  };
  const config = configFor(route, bodyLimit);
  for (const options of extra) scope.route({ ...options, ...hooks, config });
  const handler = proxyHandler(proxy);
  const methods = route.methods ?? ['GET', 'POST'];
  // Fastify answers HEAD on a GET route with a twin route: a second Context with its own hook
  // arrays and bound hooks (≈ 3 KB). Declaring HEAD on the route itself gives the same answer
  // (the handler forwards the HEAD as sent; node:http drops the body of a refusal) from one
  // Context. Where another route declares HEAD for the same path and host, HEAD is that route's
  // (Fastify's twin yields to it too; a twin left beside a lane declaring HEAD made the front
  // router refuse the revision). A selector's chosen-route constraint sets a grouped route apart
  // from every other.
  const withHead = methods.includes('GET') && !methods.includes('HEAD') ? [...methods, 'HEAD'] : undefined;
  const hosts = route.hosts?.length ? route.hosts : [undefined];
  // A grouped route's `/media/*.png` is `/media/*` to the router; its selector checks the extension.
  const routerPaths = new Set<string>();
  for (const [n, configured] of route.paths.entries()) {
    const path = grouped ? splitExtension(configured).routerPath : configured;
    if (routerPaths.has(path)) continue;
    routerPaths.add(path);
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
    const headElsewhere = withHead !== undefined && !grouped && heads.has(pathKey(path, host));
    scope.route({
      method: withHead === undefined || headElsewhere ? methods : withHead,
      exposeHeadRoute: false,
      // find-my-way's trailing `*` is the contract's `/prefix/*` as is.
      url: path,
      bodyLimit,
      config,
      ...(host || grouped ? { constraints: { ...(host ? { host: hostMatcher(host) } : {}), ...(grouped ? { [CHOSEN_ROUTE_CONSTRAINT]: route.name } : {}) } } : {}),
      schema: {
        ...(route.schema?.body && route.methods?.some((m) => BODY_METHODS.has(m)) ? { body: route.schema.body } : {}),
        ...(route.schema?.querystring ? { querystring: route.schema.querystring } : {}),
        ...(route.schema?.headers ? { headers: route.schema.headers } : {}),
      },
      ...hooks,
      handler,
    });
  }
}
