import type { Consumer } from '../../spec/consumer.js';
import { ProblemError } from '../../gateway/src/errors.js';
import type { GenerationContext, RouteStage, StageReply, StageRequest } from '../../gateway/src/generation/route-stage.js';
import { routePlugin } from '../stage-plugin.js';
import { countRejection, counterStore } from '../rate-limit/shared.js';

type Period = NonNullable<Consumer['quota']>['period'];

/** Periods are UTC calendar days and months: every node agrees on when a quota resets. */
export function periodBounds(period: Period, nowMs: number): { startMs: number; endMs: number } {
  const now = new Date(nowMs);
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  if (period === 'day') {
    const startMs = Date.UTC(y, m, now.getUTCDate());
    return { startMs, endMs: startMs + 86_400_000 };
  }
  return { startMs: Date.UTC(y, m, 1), endMs: Date.UTC(y, m + 1, 1) };
}

interface ConsumerQuota {
  max: number;
  period: Period;
  prefix: string;
  /** Cached period, recomputed when it ends. */
  endMs: number;
  key: string;
  limitHeader: string;
}

const quotaPlugin = routePlugin<{ route: { name: string }; ctx: GenerationContext }>('quota', async (scope, { route, ctx }) => {
  const store = counterStore(ctx);
  const quotas = new Map<string, ConsumerQuota>();
  for (const consumer of ctx.state.consumers)
    if (consumer.quota)
      quotas.set(consumer.id, { max: consumer.quota.max, period: consumer.quota.period, prefix: `q:${consumer.id}:`, endMs: 0, key: '', limitHeader: String(consumer.quota.max) });
  const name = route.name;

  scope.addHook('onRequest', async (request: StageRequest, reply: StageReply) => {
    const caller = request.caller;
    if (caller === undefined) return;
    const quota = quotas.get(caller.id);
    if (quota === undefined) return;
    const now = Date.now();
    if (now >= quota.endMs) {
      const { startMs, endMs } = periodBounds(quota.period, now);
      quota.endMs = endMs;
      quota.key = quota.prefix + startMs;
    }
    const used = await store.quota(quota.key, quota.endMs);
    const resetSeconds = Math.ceil((quota.endMs - now) / 1000);
    reply.header('x-quota-limit', quota.limitHeader).header('x-quota-remaining', Math.max(0, quota.max - used)).header('x-quota-reset', resetSeconds);
    if (used > quota.max) {
      countRejection(ctx, name);
      throw new ProblemError(429, 'quota-exceeded', `the ${quota.period}ly quota of ${quota.max} requests is used up; it resets in ${resetSeconds} s`, {}, { 'retry-after': String(resetSeconds) });
    }
  });
});

/** Per-consumer quotas over a UTC day or month, after the rate limit (a throttled request uses no quota). */
export const quotaStage: RouteStage = {
  name: 'quota',
  applies: (route) => route.auth !== undefined && route.auth !== 'none',
  async register(scope, route, ctx) {
    if (!ctx.state.consumers.some((c) => c.quota)) return;
    await quotaPlugin(scope, { route, ctx });
  },
};
