import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteOptions } from 'fastify';
import FindMyWay, { type HTTPMethod } from 'find-my-way';
import { TimeSlicer } from './time-slice.js';
import { CHOSEN_ROUTE_CONSTRAINT } from './route-select.js';
import { StaticLanes, type IndexCandidate } from './static-lanes.js';

/** Router options shared by Fastify and the fast lane, so both match exactly alike. */
export const ROUTER_OPTIONS = {
  ignoreTrailingSlash: false,
  ignoreDuplicateSlashes: false,
  maxParamLength: 500,
  caseSensitive: true,
  allowUnsafeRegex: false,
  useSemicolonDelimiter: false,
} as const;

export type RawHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A route's fast lane: what to do with a request that needs no stage at all (no auth, limits,
 * schema…). Fastify's request and reply objects, hook runner and body parser cost ≈ 6 µs of
 * CPU per request here — a sixth of the proxy's whole budget — and do nothing for such a route.
 */
export type FastLane = (req: IncomingMessage, res: ServerResponse) => void;

/** A route with no stage: it lives in the front router only, never in Fastify. */
export interface LaneRoute {
  /** Where it comes from in the configuration (`/routes/<name>/paths/<n>`), to name it when it does not compile. */
  field: string;
  methods: readonly string[];
  url: string;
  constraints: Record<string, unknown> | undefined;
  lane: FastLane;
}

/** A configured route the router refuses (an unsafe regex, a malformed parameter…), named by its field. */
export class RouteCompileError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'RouteCompileError';
  }
}


/**
 * The generation's entry point: a find-my-way router holding every route — the Fastify routes
 * of their own (schemas, /healthz) mirrored with the same options and constraints, and the
 * lanes, which only this router holds: routes without stages, and staged routes without a
 * schema, whose lane hands the request to their scope's shared Fastify route (shared-route.ts,
 * reached by a constraint only such a lane sets, so it competes with nothing in Fastify's
 * router). Fastify's other routes are a subset of this router's with the same options, so for
 * any request the front router hands it unmarked, Fastify's best match is the front router's
 * best match: precedence is identical by construction. A plain lane goes straight to the
 * proxy; anything else goes to Fastify, which routes it again (≈ 1 µs) and runs the full
 * lifecycle.
 *
 * Keeping routes out of Fastify's router is what lets a revision hold 10 000 of them: Fastify
 * gives each route a Context (hooks, parsers, a HEAD twin) and runs per-route work in ready(),
 * while a find-my-way entry (or a static index entry) and a few closures are all a lane needs.
 */
export async function buildFrontRouter(
  fastifyRoutes: readonly RouteOptions[],
  lanes: readonly LaneRoute[],
  fastify: RawHandler,
  options: { headOnlyRoutes: boolean },
): Promise<RawHandler> {
  if (lanes.length === 0) return fastify;
  const router = FindMyWay({
    ...ROUTER_OPTIONS,
    defaultRoute: (req, res) => fastify(req, res),
    onBadUrl: (_path, req, res) => fastify(req, res),
  });
  const toFastify = (req: IncomingMessage, res: ServerResponse) => fastify(req, res);
  // Every entry the router would hold; the static index (static-lanes.ts) takes the lanes no other
  // entry can shadow, and the router the rest. With a HEAD-only route, HEAD twins are computed
  // from the router below, so it holds everything.
  const entries: RouterEntry[] = [];
  for (const r of fastifyRoutes) {
    // A grouped route is reached through its group's selector lane, which sets the constraint.
    if (r.constraints !== undefined && CHOSEN_ROUTE_CONSTRAINT in r.constraints) continue;
    entries.push({ field: undefined, url: r.url, methods: ([] as string[]).concat(r.method), constraints: r.constraints, handler: toFastify, constrained: r.constraints !== undefined });
  }
  for (const r of lanes) entries.push({ field: r.field, url: r.url, methods: r.methods, constraints: r.constraints, handler: r.lane, lane: r.lane, constrained: r.constraints !== undefined });
  const { index, routed } = options.headOnlyRoutes ? { index: undefined, routed: entries } : StaticLanes.split(entries);

  // find-my-way compiles a matcher per node (new Function): ≈ 0.2 ms per route on a busy machine.
  const slicer = new TimeSlicer();
  for (const r of routed) {
    const routeOptions = r.constraints ? { constraints: r.constraints } : {};
    try {
      for (const method of r.methods) router.on(method as HTTPMethod, r.url, routeOptions, r.handler as never);
    } catch (err) {
      // Fastify already refused what it could not hold; what is left to name is a lane.
      if (r.field === undefined) throw err;
      throw new RouteCompileError(r.field, `"${r.url}" ${(err as Error).message}`);
    }
    const due = slicer.due();
    if (due) await due;
  }
  // Fastify's exposeHeadRoute, for the routes it does not hold: a GET route answers HEAD too
  // (the upstream gets the HEAD as sent). find-my-way keeps one tree per method, ≈ 1.9 KB per
  // route each, so HEAD is answered from the GET tree instead of a HEAD twin of every lane: a
  // HEAD whose GET match is a lane takes that lane; any other HEAD is routed as itself, to the
  // Fastify routes (whose own HEAD twins are mirrored above). That is Fastify's answer except
  // where a route declares HEAD without GET: one more specific than a lane would win in
  // Fastify's HEAD tree, so such a revision gets the twins.
  if (options.headOnlyRoutes || index === undefined) {
    for (const r of lanes) {
      if (!r.methods.includes('GET') || r.methods.includes('HEAD')) continue;
      const constraints = r.constraints ?? {};
      if (router.findRoute('HEAD', r.url, constraints) === null) router.on('HEAD', r.url, { constraints }, r.lane as never);
    }
    return (req, res) => router.lookup(req, res);
  }
  const isLane = new Set<unknown>(lanes.map((r) => r.lane));
  const head = (req: IncomingMessage, res: ServerResponse) => {
    // Host is the only constraint routes carry (compile.ts), derived as find-my-way's own strategy does.
    const asGet = router.find('GET', req.url ?? '/', { host: req.headers.host });
    if (asGet !== null && isLane.has(asGet.handler)) return (asGet.handler as FastLane)(req, res);
    router.lookup(req, res);
  };
  if (index.size === 0) return (req, res) => (req.method === 'HEAD' ? head(req, res) : router.lookup(req, res));
  return (req, res) => {
    const method = req.method!;
    const url = req.url!;
    // HEAD takes its GET match's lane, as above.
    const lane = index.find(method === 'HEAD' ? 'GET' : method, url);
    if (lane !== undefined) return lane(req, res);
    if (method === 'HEAD') return head(req, res);
    router.lookup(req, res);
  };
}

interface RouterEntry extends IndexCandidate {
  /** The configuration field a lane comes from; undefined for Fastify's own routes. */
  field: string | undefined;
  constraints: Record<string, unknown> | undefined;
  handler: RawHandler;
}
