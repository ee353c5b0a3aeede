import type { Route } from '../../spec/route.js';
import type { GenerationContext, RouteStage, StageDone, StageReply, StageRequest } from '../../gateway/src/generation/route-stage.js';
import { matchedUrl } from '../../gateway/src/generation/shared-route.js';
import type { ConfigState } from '../../gateway/src/store/port.js';
import { routePlugin } from '../stage-plugin.js';

type CorsSpec = NonNullable<Route['cors']>;

/*
 * Hand-written rather than @fastify/cors (dropped from package.json: nothing imported it).
 * That plugin is wrapped in fastify-plugin and registers a catch-all `OPTIONS *` route where it
 * is registered; the gateway compiles CORS per route, in each route's scope of each generation,
 * so a second CORS route would collide on that route, and a catch-all would also take OPTIONS
 * from routes that serve OPTIONS themselves. Here the preflight plan below decides, once per
 * generation, which route answers the preflight of each host+path and allows the methods of
 * every CORS route sharing it. Each route's options compile once into a predicate (exact
 * origins plus `https://*.example.com` subdomain wildcards, which @fastify/cors only takes as
 * hand-built RegExps), and the exposed headers are the contract's list, not a per-route option.
 * The `Vary: Origin` set here joins the upstream's own Vary in proxy/headers.ts (mergeVary):
 * the upstream's headers arrive after every hook, so no CORS plugin could merge them itself.
 */

/** Response headers a browser script may read: the ones the contract promises partners. */
const EXPOSED = 'x-request-id, ratelimit-limit, ratelimit-remaining, ratelimit-reset, retry-after, x-quota-limit, x-quota-remaining, x-quota-reset';

/**
 * `origins` entries: `*`, an exact origin (`https://app.example.com`), or a subdomain wildcard
 * (`https://*.example.com`). Compiled once per generation into a predicate.
 */
export function originMatcher(origins: readonly string[]): { any: boolean; allows(origin: string): boolean } {
  const any = origins.includes('*');
  const exact = new Set<string>();
  const suffixes: Array<{ scheme: string; suffix: string }> = [];
  for (const o of origins) {
    const wildcard = /^([a-z][a-z0-9+.-]*:\/\/)\*(\..+)$/i.exec(o);
    if (wildcard) suffixes.push({ scheme: wildcard[1]!.toLowerCase(), suffix: wildcard[2]!.toLowerCase() });
    else if (o !== '*') exact.add(o.toLowerCase().replace(/\/$/, ''));
  }
  return {
    any,
    allows(origin: string): boolean {
      if (any) return true;
      const o = origin.toLowerCase();
      if (exact.has(o)) return true;
      for (const { scheme, suffix } of suffixes) if (o.startsWith(scheme) && o.endsWith(suffix) && o.length > scheme.length + suffix.length) return true;
      return false;
    },
  };
}

export interface CorsPolicy {
  preflight(request: StageRequest, reply: StageReply): void;
  /** Headers for an actual (non-preflight) cross-origin request. */
  decorate(origin: string, reply: StageReply): void;
}

export function corsPolicy(spec: CorsSpec, routeMethods: readonly string[]): CorsPolicy {
  const origins = originMatcher(spec.origins ?? ['*']);
  const credentials = spec.credentials === true;
  // With credentials the browser refuses `*`; echo the origin instead (what @fastify/cors does).
  const echo = credentials || !origins.any;
  const allowMethods = (spec.methods?.length ? spec.methods : routeMethods).join(', ');
  const allowHeaders = spec.headers?.length ? spec.headers.join(', ') : undefined;
  const maxAge = String(spec.maxAgeSeconds ?? 600);
  return {
    decorate(origin, reply) {
      if (!origins.allows(origin)) return;
      reply.header('access-control-allow-origin', echo ? origin : '*');
      if (echo) reply.header('vary', 'Origin');
      if (credentials) reply.header('access-control-allow-credentials', 'true');
      reply.header('access-control-expose-headers', EXPOSED);
    },
    preflight(request, reply) {
      const origin = request.headers.origin!;
      reply.header('vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
      if (origins.allows(origin)) {
        reply.header('access-control-allow-origin', echo ? origin : '*');
        if (credentials) reply.header('access-control-allow-credentials', 'true');
        reply.header('access-control-allow-methods', allowMethods);
        // No configured list: allow what the browser asks for (@fastify/cors's default).
        const asked = request.headers['access-control-request-headers'];
        const headers = allowHeaders ?? asked;
        if (headers) reply.header('access-control-allow-headers', headers);
        reply.header('access-control-max-age', maxAge);
      }
      // A refused origin still gets a 204, just without the allow headers: the browser blocks it.
      reply.code(204).header('content-length', '0').send();
    },
  };
}

/**
 * Which route answers OPTIONS for a host+path, decided once per generation: the first enabled
 * CORS route that does not list OPTIONS, and only where no route lists OPTIONS itself (the router
 * refuses two OPTIONS routes on one path). Its preflight allows the methods of every CORS route
 * sharing that path.
 */
interface PreflightPlan {
  owner: Map<string, string>;
  methods: Map<string, string[]>;
}
const plans = new WeakMap<ConfigState, PreflightPlan>();
const slot = (host: string | undefined, path: string) => `${host ?? ''} ${path}`;

function preflightPlan(state: ConfigState): PreflightPlan {
  let plan = plans.get(state);
  if (plan) return plan;
  plan = { owner: new Map(), methods: new Map() };
  const taken = new Set<string>();
  const enabled = state.routes.filter((r) => r.enabled !== false);
  for (const r of enabled)
    if ((r.methods ?? []).includes('OPTIONS')) for (const p of r.paths) for (const h of r.hosts?.length ? r.hosts : [undefined]) taken.add(slot(h, p));
  for (const r of enabled) {
    if (!r.cors) continue;
    for (const p of r.paths)
      for (const h of r.hosts?.length ? r.hosts : [undefined]) {
        const s = slot(h, p);
        if (taken.has(s)) continue;
        if (!plan.owner.has(s)) plan.owner.set(s, r.name);
        const methods = plan.methods.get(s) ?? [];
        for (const m of r.methods ?? ['GET', 'POST']) if (!methods.includes(m)) methods.push(m);
        plan.methods.set(s, methods);
      }
  }
  plans.set(state, plan);
  return plan;
}

const corsPlugin = routePlugin<{ route: Route; ctx: GenerationContext }>('cors', async (scope, { route, ctx }) => {
  const methods = route.methods ?? ['GET', 'POST'];
  const policy = corsPolicy(route.cors!, methods);
  const plan = preflightPlan(ctx.state);
  const preflights = new Map<string, CorsPolicy>();
  scope.addHook('onRequest', (request: StageRequest, reply: StageReply, done: StageDone) => {
    const origin = request.headers.origin;
    if (origin === undefined) return done();
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      // The gateway answers preflights itself; they carry no credentials and must not reach auth.
      (preflights.get(matchedUrl(request) ?? '') ?? policy).preflight(request, reply);
      return;
    }
    policy.decorate(origin, reply);
    done();
  });

  // A route that does not list OPTIONS would 404 its preflight at the router: give each of its
  // paths an OPTIONS route. Its only real answer is the preflight above; a plain OPTIONS gets
  // the allowed methods.
  const hosts = route.hosts?.length ? route.hosts : [undefined];
  for (const url of route.paths)
    for (const host of hosts) {
      const s = slot(host, url);
      if (plan.owner.get(s) !== route.name) continue;
      const shared = plan.methods.get(s)!;
      preflights.set(url, corsPolicy(route.cors!, shared));
      const allow = shared.join(', ');
      scope.route({
        method: 'OPTIONS',
        url,
        ...(host ? { constraints: { host } } : {}),
        handler: (_request, reply) => {
          reply.code(204).header('allow', allow).header('content-length', '0').send();
        },
      });
    }
});

/**
 * Second stage, before auth: a preflight has no credentials, and a 401 or 429 must carry the
 * CORS headers or the browser hides it from the calling script.
 */
export const corsStage: RouteStage = {
  name: 'cors',
  applies: (route) => route.cors !== undefined,
  async register(scope, route, ctx) {
    await corsPlugin(scope, { route, ctx });
  },
};
