import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ProblemError } from '../errors.js';
import { findConsumer } from '../keys/key-service.js';
import { tokenServices } from '../../../plugins/token-meter/index.js';
import { GRANULARITIES, MAX_BUCKETS, RETENTION_MS, type Granularity } from '../../../plugins/token-meter/usage-ledger.js';
import type { AdminDeps } from './admin-deps.js';
import { ProblemSchema } from './admin-schemas.js';

const Counts = {
  promptTokens: Type.Integer(),
  completionTokens: Type.Integer(),
  totalTokens: Type.Integer(),
  unknownUsage: Type.Integer({ description: 'Answers whose usage was malformed or unreadable (billed nothing).' }),
};
const Breakdown = Type.Array(
  Type.Object({ route: Type.String(), model: Type.String(), promptTokens: Type.Integer(), completionTokens: Type.Integer(), unknownUsage: Type.Integer() }),
);

export const UsageSchema = Type.Object({
  consumer: Type.Object({ id: Type.String(), name: Type.String() }),
  granularity: Type.Union([Type.Literal('minute'), Type.Literal('hour'), Type.Literal('day')]),
  from: Type.String({ format: 'date-time', description: 'Start of the first bucket (from, rounded down to the granularity).' }),
  to: Type.String({ format: 'date-time' }),
  source: Type.Union([Type.Literal('redis'), Type.Literal('node')], { description: "redis: the fleet's counts; node: this node's own (no REDIS_URL, or Redis unavailable)." }),
  series: Type.Array(Type.Object({ start: Type.String({ format: 'date-time' }), ...Counts, breakdown: Breakdown })),
  totals: Type.Object({ ...Counts, breakdown: Breakdown }),
});

/** RFC 3339 date-time (the ISO 8601 profile the API speaks): a date, a time, and a zone. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;
const DEFAULT_RANGE_MS: Record<Granularity, number> = { minute: 3_600_000, hour: 86_400_000, day: 30 * 86_400_000 };
const PARAMS = new Set(['from', 'to', 'granularity']);

function bad(param: string, message: string): ProblemError {
  return new ProblemError(400, 'validation', `${param}: ${message}`, { errors: [{ path: `/${param}`, message }] });
}

function time(query: Record<string, unknown>, param: 'from' | 'to'): number | undefined {
  const value = query[param];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !DATE_TIME.test(value)) throw bad(param, 'must be an ISO 8601 date-time with a zone, e.g. 2026-12-01T00:00:00Z');
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw bad(param, `"${value}" is not a real date-time`);
  return ms;
}

/** Query → range, or a 400 naming the parameter that is wrong. */
export function usageRange(query: Record<string, unknown>, nowMs = Date.now()): { fromMs: number; toMs: number; granularity: Granularity } {
  for (const key of Object.keys(query)) if (!PARAMS.has(key)) throw bad(key, 'unknown parameter (from, to and granularity are)');
  const g = query['granularity'] ?? 'hour';
  if (typeof g !== 'string' || !Object.hasOwn(GRANULARITIES, g)) throw bad('granularity', 'must be minute, hour or day');
  const granularity = g as Granularity;
  const toMs = time(query, 'to') ?? nowMs;
  const fromMs = time(query, 'from') ?? toMs - DEFAULT_RANGE_MS[granularity];
  if (fromMs >= toMs) throw bad('from', 'must be before to');
  const step = GRANULARITIES[granularity];
  const buckets = Math.ceil((toMs - Math.floor(fromMs / step) * step) / step);
  if (buckets > MAX_BUCKETS[granularity]) throw bad('from', `the range holds ${buckets} ${granularity}s; at most ${MAX_BUCKETS[granularity]} per query (use a coarser granularity)`);
  if (fromMs < nowMs - RETENTION_MS[granularity])
    throw bad('from', `${granularity} usage is kept for ${RETENTION_MS[granularity] / 86_400_000} days; ask for a coarser granularity`);
  return { fromMs, toMs, granularity };
}

/**
 * `GET /consumers/{id}/usage?from&to&granularity=minute|hour|day`: a consumer's (id or name)
 * metered tokens per bucket and in total, by route and model (plugins/token-meter).
 */
export function registerUsageRoute(app: FastifyInstance, deps: AdminDeps): void {
  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/consumers/:id/usage',
    {
      schema: {
        tags: ['consumers'],
        summary: "A consumer's metered tokens per minute, hour or day, by route and model",
        querystring: Type.Object({
          from: Type.Optional(Type.String({ description: 'ISO 8601 date-time; default: to minus 1 h (minute), 24 h (hour) or 30 days (day).' })),
          to: Type.Optional(Type.String({ description: 'ISO 8601 date-time, exclusive; default now.' })),
          granularity: Type.Optional(Type.String({ description: 'minute | hour (default) | day.' })),
        }),
        response: { 200: UsageSchema, 400: ProblemSchema, 401: ProblemSchema, 404: ProblemSchema },
      },
    },
    async (request) => {
      const consumer = findConsumer(await deps.service.read(), request.params.id);
      const { fromMs, toMs, granularity } = usageRange(request.query ?? {});
      const node = deps.node;
      if (node === undefined) throw new ProblemError(404, 'not-in-force', 'this admin server runs without a gateway node, so it has no usage to show');
      const { ledger } = tokenServices(node.services);
      const series = await ledger.query(consumer.id!, fromMs, toMs, granularity);
      return { consumer: { id: consumer.id!, name: consumer.name }, ...series };
    },
  );
}
