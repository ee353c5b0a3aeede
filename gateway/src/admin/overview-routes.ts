import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { healthReport } from '../health/health-report.js';
import { BUCKET_MS, BUCKETS, type TrafficWindow } from '../metrics/traffic-window.js';
import type { AdminDeps } from './admin-deps.js';
import { ProblemSchema } from './admin-schemas.js';

const Quantile = Type.Union([Type.Number(), Type.Null()], { description: 'Milliseconds, from a histogram; null without requests.' });

export const OverviewSchema = Type.Object({
  now: Type.String({ format: 'date-time' }),
  bucketSeconds: Type.Integer({ description: 'Width of one point of `routes[].points`.' }),
  windowMinutes: Type.Integer(),
  node: Type.Object({
    revision: Type.Integer({ description: 'The configuration revision in force on this node (-1 before the first).' }),
    since: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'When that revision came into force here.' }),
    lastError: Type.Union([Type.Object({ revision: Type.Integer(), message: Type.String(), at: Type.String() }), Type.Null()], {
      description: 'The last revision that failed to compile on this node, while the previous one kept serving.',
    }),
  }),
  pools: Type.Array(
    Type.Object({ name: Type.String(), healthy: Type.Integer(), draining: Type.Integer(), total: Type.Integer() }),
    { description: 'Every upstream in force on this node: targets that may receive requests, of all.' },
  ),
  routes: Type.Array(
    Type.Object({
      route: Type.String(),
      requests: Type.Integer(),
      errors: Type.Integer({ description: '5xx answers.' }),
      p50: Quantile,
      p99: Quantile,
      points: Type.Array(
        Type.Object({ t: Type.Integer({ description: 'Bucket start, ms since the epoch.' }), requestsPerSecond: Type.Number(), errorRate: Type.Number(), p50: Quantile, p99: Quantile }),
      ),
    }),
    { description: 'Routes that answered requests in the window.' },
  ),
});

/**
 * `GET /overview`: what the console's first page polls every second or two — this node's
 * revision and last configuration error, pool health, and per-route traffic of the last 15
 * minutes from the metrics' traffic window. One small JSON answer, so no SSE connection
 * has to be held per open console.
 */
export function registerOverviewRoute(app: FastifyInstance, deps: AdminDeps, traffic: TrafficWindow | undefined): void {
  app.get(
    '/overview',
    { schema: { tags: ['overview'], summary: 'Live overview of this node: traffic per route, pool health, revision', response: { 200: OverviewSchema, 401: ProblemSchema, 403: ProblemSchema } } },
    () => {
      const node = deps.node;
      const pools = (node?.upstreams.all() ?? []).map((pool) => {
        const report = healthReport(pool);
        return {
          name: pool.name,
          healthy: report.filter((t) => t.state === 'healthy').length,
          draining: report.filter((t) => t.state === 'draining').length,
          total: report.length,
        };
      });
      return {
        now: new Date().toISOString(),
        bucketSeconds: BUCKET_MS / 1000,
        windowMinutes: (BUCKETS * BUCKET_MS) / 60_000,
        node: { revision: node?.revision ?? -1, since: node?.revisionSince ?? null, lastError: node?.lastError ?? null },
        pools: pools.sort((a, b) => a.name.localeCompare(b.name)),
        routes: traffic?.snapshot() ?? [],
      };
    },
  );
}
