import { createRequire } from 'node:module';
import type { FastifyPluginAsync } from 'fastify';
import type { Stored } from '../../gateway/src/store/port.js';
import type { Route } from '../../spec/route.js';
import { ProblemError } from '../../gateway/src/errors.js';
import type { GenerationContext, RouteStage, StageReply, StageRequest } from '../../gateway/src/generation/route-stage.js';
import { routePlugin } from '../stage-plugin.js';
import { countRejection, counterStore } from './shared.js';
import { setOpenAiLimitHeaders } from '../token-meter/openai-headers.js';

// Loaded without its type declarations on purpose: they augment FastifyContextConfig for every
// file in the program, which would turn other routes' `config` objects into type errors.
const fastifyRateLimit = createRequire(import.meta.url)('@fastify/rate-limit') as FastifyPluginAsync<Record<string, unknown>>;

/** What @fastify/rate-limit's `createRateLimit` limiter resolves to. */
interface LimitResult {
  isAllowed: boolean;
  max: number;
  remaining: number;
  ttlInSeconds: number;
  isExceeded: boolean;
}
/**
 * What a limiter is handed in place of Fastify's request: its counter key, and the one field of a
 * request @fastify/rate-limit reads itself (`routeOptions.config.rateLimit.groupId`, for routes
 * configured through its own `config`, which no route here is). A stage hook's request need not
 * be Fastify's (stage-lane.ts), and Fastify's `routeOptions` getter builds a fresh object per read.
 */
interface LimitCall {
  readonly key: string;
  readonly routeOptions: { readonly config: undefined };
}
const NO_ROUTE_OPTIONS = { config: undefined } as const;
type Limiter = (call: LimitCall) => Promise<LimitResult>;
type CreateRateLimit = (options: { max: number; timeWindow: number; keyGenerator: (call: LimitCall) => string }) => Limiter;

/** Of two policies, the one a client must heed: an exceeded one, else the fewest requests left. */
function tighter(a: LimitResult | undefined, b: LimitResult): LimitResult {
  if (a === undefined) return b;
  if (a.isExceeded !== b.isExceeded) return a.isExceeded ? a : b;
  if (a.isExceeded) return a.ttlInSeconds >= b.ttlInSeconds ? a : b;
  return b.remaining < a.remaining ? b : a;
}

/** A consumer's limiter and its one call (its key never changes, so neither does the call). */
interface ConsumerLimiter {
  readonly limiter: Limiter;
  readonly call: LimitCall;
}
const NO_LIMITERS: ReadonlyMap<string, ConsumerLimiter> = new Map();
/** Every limiter counts the key its call names: a route's hook chooses it per request. */
const byKey = (call: LimitCall): string => call.key;
const limitCall = (key: string): LimitCall => ({ key, routeOptions: NO_ROUTE_OPTIONS });
const consumerLimiterSets = new WeakMap<CreateRateLimit, ReadonlyMap<string, ConsumerLimiter>>();

/**
 * A consumer's own limit spans every route: one counter per consumer, whichever route counts, and
 * one limiter per consumer per shared scope that every keyed route in it shares (the node's counter store is
 * the same whichever scope's factory made it; ≈ 1 KB per route and consumer when each had its own).
 */
function consumerLimitersOf(ctx: GenerationContext, create: CreateRateLimit): ReadonlyMap<string, ConsumerLimiter> {
  // Keyed by the scope's factory: shared within one generation's scope, never across compiles (a dry compile's scope is thrown away).
  let limiters = consumerLimiterSets.get(create);
  if (limiters === undefined) {
    const made = new Map<string, ConsumerLimiter>();
    for (const consumer of ctx.state.consumers) {
      if (!consumer.rateLimit) continue;
      const limiter = create({ max: consumer.rateLimit.max, timeWindow: consumer.rateLimit.windowMs ?? 60_000, keyGenerator: byKey });
      made.set(consumer.id, { limiter, call: limitCall(`rl:c:${consumer.id}`) });
    }
    consumerLimiterSets.set(create, (limiters = made));
  }
  return limiters;
}

const routeLimiterSets = new WeakMap<CreateRateLimit, Map<string, Limiter>>();

/**
 * The limiter for a route limit of `max` per `windowMs`, one per scope for every route with
 * those figures: a limiter is its settings merged into a copy of the plugin's (≈ 1.5 KB), and
 * which counter it counts is the key its route's hook hands it (`rl:r:<route id>:…`), so routes
 * still count apart.
 */
function routeLimiterOf(create: CreateRateLimit, max: number, windowMs: number): Limiter {
  let limiters = routeLimiterSets.get(create);
  if (limiters === undefined) routeLimiterSets.set(create, (limiters = new Map()));
  let limiter = limiters.get(`${max}/${windowMs}`);
  if (limiter === undefined) {
    limiter = create({ max, timeWindow: windowMs, keyGenerator: byKey });
    limiters.set(`${max}/${windowMs}`, limiter);
  }
  return limiter;
}

const rateLimitPlugin = routePlugin<{ route: Stored<Route>; ctx: GenerationContext }>('rate-limit', async (scope, { route, ctx }) => {
  const clientIp = ctx.services.clientIp;
  const create = (scope.scope as unknown as { createRateLimit: CreateRateLimit }).createRateLimit;

  let routeLimiter: Limiter | undefined;
  let counterKey: ((request: StageRequest) => string) | undefined;
  if (route.rateLimit) {
    const routeKey = `rl:r:${route.id}:`;
    const byIp = route.rateLimit.by === 'ip';
    routeLimiter = routeLimiterOf(create, route.rateLimit.max, route.rateLimit.windowMs ?? 60_000);
    // `by: consumer` on a route without auth has no consumer: the client address stands in.
    counterKey = (request) => {
      const caller = request.caller;
      return byIp || caller === undefined ? routeKey + 'ip:' + clientIp(request.raw) : routeKey + 'c:' + caller.id;
    };
  }

  const consumerLimiters = route.auth !== 'none' ? consumerLimitersOf(ctx, create) : NO_LIMITERS;
  if (routeLimiter === undefined && consumerLimiters.size === 0) return;

  const name = route.name;
  scope.addHook('onRequest', async (request: StageRequest, reply: StageReply) => {
    let policy: LimitResult | undefined;
    if (routeLimiter !== undefined) policy = await routeLimiter(limitCall(counterKey!(request)));
    const caller = request.caller;
    if (caller !== undefined && consumerLimiters.size !== 0) {
      const own = consumerLimiters.get(caller.id);
      if (own !== undefined) policy = tighter(policy, await own.limiter(own.call));
    }
    if (policy === undefined || policy.isAllowed) return;
    // draft-ietf-httpapi-ratelimit-headers: the policy closest to its limit.
    reply.header('ratelimit-limit', policy.max).header('ratelimit-remaining', policy.remaining).header('ratelimit-reset', policy.ttlInSeconds);
    // OpenAI's names for the same policy, which its SDKs and LiteLLM read.
    setOpenAiLimitHeaders(reply, 'requests', policy.max, policy.remaining, policy.ttlInSeconds * 1000);
    if (policy.isExceeded) {
      countRejection(ctx, name);
      throw new ProblemError(429, 'rate-limited', `rate limit of ${policy.max} requests exceeded; retry in ${policy.ttlInSeconds} s`, {}, { 'retry-after': String(policy.ttlInSeconds) });
    }
  });
});

/** Whether a route counts anything: its own limit, or a consumer's. */
function limits(route: Route, ctx: GenerationContext): boolean {
  return route.rateLimit !== undefined || ctx.state.consumers.some((c) => c.rateLimit);
}

/**
 * After auth (a consumer's limit needs the consumer), before the body is read or validated: a
 * client over its limit costs no body parsing and no upstream work.
 */
export const rateLimitStage: RouteStage = {
  name: 'rate-limit',
  applies: (route) => route.rateLimit !== undefined || (route.auth !== undefined && route.auth !== 'none'),
  // @fastify/rate-limit once per shared scope, for its limiter factory (createRateLimit).
  scopeKey: (route, ctx) => (limits(route, ctx) ? 'rate-limit' : undefined),
  async setupScope(scope, _route, ctx) {
    const store = counterStore(ctx);
    // The store option is a class @fastify/rate-limit instantiates; hand it the node's one store so
    // that counts outlive this generation.
    function NodeStore(): unknown {
      return store;
    }
    await scope.register(fastifyRateLimit, { global: false, store: NodeStore, enableDraftSpec: true });
  },
  async register(scope, route, ctx) {
    if (!limits(route, ctx)) return;
    await rateLimitPlugin(scope, { route: route as Stored<Route>, ctx });
  },
};
