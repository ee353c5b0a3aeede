import type { Route } from '../../spec/route.js';
import type { Consumer } from '../../spec/consumer.js';
import type { Stored } from '../../gateway/src/store/port.js';
import { ProblemError } from '../../gateway/src/errors.js';
import type { GenerationContext, RouteStage, StageDone, StageReply, StageRequest, StageServices } from '../../gateway/src/generation/route-stage.js';
import { routePlugin, sharedService } from '../stage-plugin.js';
import { periodBounds } from '../quota/index.js';
import { countRejection, nodeCounterStore } from '../rate-limit/shared.js';
import { setOpenAiLimitHeaders } from './openai-headers.js';
import { ResponseMeter, type MeterReport } from './response-meter.js';
import { TokenBudgets, type Budget } from './token-budget.js';
import { tokenMetrics } from './token-metrics.js';
import { UsageLedger } from './usage-ledger.js';

/** Whether a route reads token usage: any of its metering or limit settings. */
export function meters(route: Route): boolean {
  return route.meterTokens === true || route.meterStreams === true || route.tokenLimit !== undefined;
}

/** The node's token budgets and usage ledger, on the rate-limit counter store (one Redis, one breaker). */
export function tokenServices(node: StageServices): { budgets: TokenBudgets; ledger: UsageLedger } {
  return sharedService(node, 'token-meter', () => {
    // The counter store needs the node's services only; the admin API's usage endpoint has no generation at hand.
    const store = nodeCounterStore(node);
    const services = { budgets: new TokenBudgets(store), ledger: new UsageLedger(store) };
    node.onClose(() => {
      services.budgets.close();
      services.ledger.close();
    });
    return services;
  });
}

/** Consumer id used for answers on routes without auth. */
export const ANONYMOUS = 'anonymous';
const MAX_LABEL = 100;

function windowBudget(prefix: string, limit: { max: number; windowMs: number }, now: number, what: string): Budget {
  const start = Math.floor(now / limit.windowMs) * limit.windowMs;
  return { key: `${prefix}${start}`, max: limit.max, resetAtMs: start + limit.windowMs, what, quota: false };
}

/** Every budget one request draws on, all under the caller's one hash tag. */
function budgetsFor(route: Stored<Route>, consumer: Stored<Consumer> | undefined, clientIp: string, now: number): Budget[] {
  const tag = consumer !== undefined ? `{tok:c:${consumer.id}}` : `{tok:ip:${clientIp}}`;
  const out: Budget[] = [];
  if (route.tokenLimit)
    out.push(windowBudget(`${tag}:r:${route.id}:`, route.tokenLimit, now, `route's token limit of ${route.tokenLimit.max} tokens per ${route.tokenLimit.windowMs / 1000} s`));
  if (consumer?.tokenLimit)
    out.push(windowBudget(`${tag}:w:${consumer.tokenLimit.windowMs}:`, consumer.tokenLimit, now, `token limit of ${consumer.tokenLimit.max} tokens per ${consumer.tokenLimit.windowMs / 1000} s`));
  if (consumer?.tokenQuota) {
    const { startMs, endMs } = periodBounds(consumer.tokenQuota.period, now);
    out.push({ key: `${tag}:q:${consumer.tokenQuota.period}:${startMs}`, max: consumer.tokenQuota.max, resetAtMs: endMs, what: `${consumer.tokenQuota.period === 'day' ? 'daily' : 'monthly'} token quota of ${consumer.tokenQuota.max} tokens`, quota: true });
  }
  return out;
}

/** The streamed JSON request without include_usage, with it: the bytes forwarded instead. */
function withIncludeUsage(body: unknown): Buffer | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const fields = body as Record<string, unknown>;
  if (fields['stream'] !== true) return undefined;
  const options = fields['stream_options'];
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) return undefined;
  if ((options as Record<string, unknown> | null | undefined)?.['include_usage'] === true) return undefined;
  return Buffer.from(JSON.stringify({ ...fields, stream_options: { ...(options as object | null | undefined), include_usage: true } }));
}

const tokenMeterPlugin = routePlugin<{ route: Stored<Route>; ctx: GenerationContext }>('token-meter', async (scope, { route, ctx }) => {
  const { budgets, ledger } = tokenServices(ctx.services);
  const metrics = tokenMetrics(ctx);
  const logger = ctx.services.logger;
  const clientIp = ctx.services.clientIp;
  const name = route.name;
  const anyConsumerBudget = ctx.state.consumers.some((c) => c.tokenLimit || c.tokenQuota);
  const limited = route.tokenLimit !== undefined || (anyConsumerBudget && route.auth !== 'none');

  /** Headers for the tightest budget, and the 429 when one is spent. */
  function judge(reply: StageReply, drawn: Budget[], used: number[], now: number): ProblemError | undefined {
    // The budget a client must heed: a spent one (the latest to reset), else the fewest tokens left.
    let tightest = 0;
    let spent = -1;
    for (let i = 0; i < drawn.length; i++) {
      if (used[i]! >= drawn[i]!.max) {
        if (spent < 0 || drawn[i]!.resetAtMs > drawn[spent]!.resetAtMs) spent = i;
      } else if (drawn[i]!.max - used[i]! < drawn[tightest]!.max - used[tightest]!) tightest = i;
    }
    const shown = spent >= 0 ? spent : tightest;
    const budget = drawn[shown]!;
    const resetMs = budget.resetAtMs - now;
    setOpenAiLimitHeaders(reply, 'tokens', budget.max, budget.max - used[shown]!, resetMs);
    if (spent < 0) return undefined;
    countRejection(ctx, name);
    const seconds = Math.max(1, Math.ceil(resetMs / 1000));
    const code = budget.quota ? 'quota-exceeded' : 'rate-limited';
    return new ProblemError(429, code, `the ${budget.what} is used up (${used[shown]} used); it resets in ${seconds} s`, {}, { 'retry-after': String(seconds) });
  }

  /** The tap that reads this request's answer and books its tokens. */
  function meterFor(request: StageRequest, consumer: Stored<Consumer> | undefined, address: string, arrivedAt: number): ResponseMeter {
    const consumerId = consumer?.id ?? ANONYMOUS;
    const consumerLabel = request.caller?.name ?? ANONYMOUS;
    return new ResponseMeter(logger, (r: MeterReport) => {
      if (r.streamed && r.firstEventAt !== undefined) metrics.ttft.observe(name, () => ({ route: name }), (r.firstEventAt - arrivedAt) / 1000);
      const usage = r.usage;
      if (usage === undefined) return;
      if (usage === 'malformed') {
        logger.warn({ route: name, consumer: consumerLabel, requestId: request.id, reason: r.reason }, 'token meter: the worker\'s usage could not be read; counted as unknown, billed nothing');
        metrics.unknown.inc(name + '\u0000' + consumerLabel, () => ({ route: name, consumer: consumerLabel }));
        ledger.record(consumerId, name, 'unknown', { unknown: 1 });
        return;
      }
      const model = (usage.model ?? 'unknown').slice(0, MAX_LABEL);
      const base = name + '\u0000' + consumerLabel + '\u0000' + model;
      metrics.tokens.inc(base + '\u0000p', () => ({ route: name, consumer: consumerLabel, model, kind: 'prompt' }), usage.prompt);
      metrics.tokens.inc(base + '\u0000c', () => ({ route: name, consumer: consumerLabel, model, kind: 'completion' }), usage.completion);
      if (r.streamed && r.firstEventAt !== undefined && usage.completion > 1)
        metrics.tpot.observe(name, () => ({ route: name }), (r.endedAt - r.firstEventAt) / 1000 / (usage.completion - 1));
      ledger.record(consumerId, name, model, { prompt: usage.prompt, completion: usage.completion });
      const total = usage.prompt + usage.completion;
      // Charged in the window the answer ends in: that is when its tokens were spent.
      if (limited && total > 0) {
        const charged = budgetsFor(route, consumer, address, Date.now());
        if (charged.length > 0) void Promise.resolve(budgets.charge(charged, total)).catch(() => {});
      }
    });
  }

  // A callback hook, not an async one: without Redis the budgets answer at once, and the common
  // request then costs no promise.
  scope.addHook('onRequest', (request: StageRequest, reply: StageReply, done: StageDone) => {
    const arrivedAt = performance.now();
    const consumer = request.caller?.consumer;
    // Read now: by the time the answer ends the request's socket may be gone.
    const address = limited ? clientIp(request.raw) : '';
    const now = Date.now();
    const drawn = limited ? budgetsFor(route, consumer, address, now) : [];
    const admit = (used: number[] | undefined): void => {
      const refusal = used === undefined ? undefined : judge(reply, drawn, used, now);
      if (refusal !== undefined) return done(refusal);
      request.responseTap = meterFor(request, consumer, address, arrivedAt);
      done();
    };
    if (drawn.length === 0) return admit(undefined);
    const used = budgets.used(drawn);
    if (Array.isArray(used)) return admit(used);
    used.then(admit, (err: Error) => done(err));
  });

  if (route.meterStreams === true)
    // After validation, before the proxy: the body is parsed (compile.ts reads it for meterStreams routes).
    scope.addHook('preHandler', (request: StageRequest, _reply: StageReply, done: StageDone) => {
      const meter = request.responseTap as ResponseMeter | undefined;
      const rewritten = meter !== undefined && request.rawBody !== undefined ? withIncludeUsage(request.body) : undefined;
      if (rewritten !== undefined) {
        request.rawBody = rewritten;
        meter!.strip = true;
      }
      done();
    });
});

/**
 * Token metering, limits and quotas, after the request quota (a request refused for its count
 * spends no tokens) and before the proxy. Only routes that meter register anything: every other
 * route pays nothing for it.
 */
export const tokenMeterStage: RouteStage = {
  name: 'token-meter',
  applies: meters,
  async register(scope, route, ctx) {
    if (!meters(route)) return;
    await tokenMeterPlugin(scope, { route: route as Stored<Route>, ctx });
  },
};
