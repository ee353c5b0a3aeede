import type { GenerationContext, StageServices } from '../../gateway/src/generation/route-stage.js';
import type { GatewayMetrics } from '../../gateway/src/metrics/gateway-metrics.js';
import { sharedService } from '../stage-plugin.js';
import { CounterStore } from './counter-store.js';

export function gatewayMetrics(ctx: GenerationContext): GatewayMetrics {
  return ctx.services.metrics;
}

/**
 * The node's one counter store, made on first use and kept across generations. REDIS_URL
 * (the node's `redisUrl`) turns on sharing across nodes; a node's workers share counts through
 * its primary (`nodeCounters`).
 */
export function counterStore(ctx: GenerationContext): CounterStore {
  return nodeCounterStore(ctx.services);
}

/**
 * Made from the node's services alone: the store outlives the generation that first asks for it,
 * and a closure over that generation's context would keep its whole configuration (every route,
 * consumer and key) for the life of the process.
 */
export function nodeCounterStore(services: StageServices): CounterStore {
  const store = sharedService(services, 'rate-limit-counters', () => {
    const counters = new CounterStore({
      redisUrl: services.redisUrl,
      logger: services.logger,
      metrics: () => services.metrics,
      nodeCounters: services.nodeCounters,
    });
    services.onClose(() => counters.close());
    return counters;
  });
  store.attachMetrics();
  return store;
}

/** Count a refusal in switchboard_ratelimit_rejected_total{route}. */
export function countRejection(ctx: GenerationContext, route: string): void {
  gatewayMetrics(ctx).rateLimited.inc(route, () => ({ route }));
}
