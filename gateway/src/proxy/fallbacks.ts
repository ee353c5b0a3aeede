import type { Route } from '../../../spec/route.js';
import type { UpstreamPool } from '../balancer/upstream-pool.js';
import type { FallbackHop, FallbackNotice, ProxyRoute } from './proxy-route.js';

export type { FallbackHop, FallbackNotice } from './proxy-route.js';
import { retryBudgetFor } from './retry-budget.js';

/**
 * A route's `fallbacks`: the pools tried in order when the one before has no eligible target or
 * answers 429/503 before any byte reached the client (Portkey's and LiteLLM's fallbacks; a
 * worker's 429/503 means it did not start the work, so sending the request elsewhere repeats
 * nothing). Each hop is the route's ProxyRoute with the other pool and that pool's retry
 * budget, built once per generation; `rewrite.model` replaces the JSON body's model for that
 * pool, the one case where the forwarded bytes differ from the received ones. (The hop and
 * notice types live in proxy-route.ts, beside ProxyRoute, so the two files form no cycle.)
 */

/** Statuses a pool answers when it cannot take the request now (429 Too Many Requests, 503 Service Unavailable). */
export const FALLBACK_STATUS: Record<number, true> = { 429: true, 503: true };


export function fallbackHops(route: Route, primary: ProxyRoute, pools: ReadonlyMap<string, UpstreamPool> | undefined): readonly FallbackHop[] | undefined {
  if (!route.fallbacks?.length || pools === undefined) return undefined;
  return route.fallbacks.map((f) => {
    const name = typeof f === 'string' ? f : f.upstream;
    const pool = pools.get(name);
    if (!pool) throw new Error(`route "${route.name}" falls back to unknown upstream "${name}"`);
    return { route: { ...primary, pool, budget: retryBudgetFor(pool), fallbacks: undefined }, rewriteModel: typeof f === 'string' ? undefined : f.rewrite?.model };
  });
}

/** The JSON body with `model` replaced; undefined when the body is not a JSON object (sent as received). */
export function withModel(body: Buffer, model: string): Buffer | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
  return Buffer.from(JSON.stringify({ ...(json as object), model }));
}

/** The metric (through the observer) and one log line per fallback: an operator should see a pool shedding load. */
export function fallbackNotice(
  observer: { fellBack?(route: string, from: string, to: string): void } | undefined,
  logger: { warn(obj: object, msg: string): void } | undefined,
): FallbackNotice {
  return (route, from, to, reason, requestId) => {
    observer?.fellBack?.(route, from, to);
    logger?.warn({ requestId, route, from, to, reason }, 'request falls back to the next pool');
  };
}
