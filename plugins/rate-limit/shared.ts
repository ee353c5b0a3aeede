import type { GenerationContext } from '../../gateway/src/generation/route-stage.js';
import type { GatewayMetrics } from '../../gateway/src/metrics/gateway-metrics.js';
import { sharedService } from '../stage-plugin.js';
import { CounterStore } from './counter-store.js';

/** The node's metrics, when main (or a test) put them in the shared services. */
export function gatewayMetrics(ctx: GenerationContext): GatewayMetrics | undefined {
  return ctx.services.shared.get('metrics') as GatewayMetrics | undefined;
}

/**
 * The node's one counter store, made on first use and kept across generations. REDIS_URL
 * (or `redisUrl` in the shared services, for tests and embedders) turns on sharing.
 */
export function counterStore(ctx: GenerationContext): CounterStore {
  const store = sharedService(ctx.services, 'rate-limit-counters', () => {
    const url = (ctx.services.shared.get('redisUrl') as string | undefined) ?? process.env.REDIS_URL;
    return new CounterStore({ redisUrl: url || undefined, logger: ctx.services.logger, metrics: () => gatewayMetrics(ctx) });
  });
  store.attachMetrics();
  return store;
}

/** Count a refusal in switchboard_ratelimit_rejected_total{route}. */
export function countRejection(ctx: GenerationContext, route: string): void {
  gatewayMetrics(ctx)?.rateLimited.inc(route, () => ({ route }));
}
