import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Upstream } from '../../../spec/upstream.js';
import { etagFor, parseIfMatch } from '../config/if-match.js';
import { ProblemError } from '../errors.js';
import { healthReport } from '../health/health-report.js';
import type { AdminDeps } from './admin-deps.js';
import { DrainBody, ItemRef, ProblemSchema, TargetHealthSchema } from './admin-schemas.js';
import { poolInForce } from './pool-in-force.js';

const problems = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema, 412: ProblemSchema, 503: ProblemSchema };
const sameTarget = (a: string, b: string) => a.replace(/\/$/, '') === b.replace(/\/$/, '');

/**
 * Target health as this node sees it (each node probes for itself), and draining.
 * Draining is cluster-wide by default — an edit of the target's `draining` flag, so it is
 * audited, reaches every node and survives restarts; `scope: "node"` flips it on this process
 * only, for quick experiments, and is gone on restart.
 */
export function registerHealthRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get(
    '/upstreams/:id/health',
    { schema: { tags: ['upstreams'], summary: 'Health of every target, as this node sees it', params: ItemRef, response: { 200: Type.Array(TargetHealthSchema), ...problems } } },
    async (request) => healthReport((await poolInForce(deps, (request.params as { id: string }).id)).pool),
  );

  app.post(
    '/upstreams/:id/targets/drain',
    {
      schema: {
        tags: ['upstreams'],
        summary: 'Drain a target (no new requests; in-flight ones finish) or bring it back',
        params: ItemRef,
        body: DrainBody,
        response: { 200: Type.Array(TargetHealthSchema), ...problems },
      },
    },
    async (request, reply) => {
      const { id: ref } = request.params as { id: string };
      const { url, draining, scope } = request.body as { url: string; draining: boolean; scope: 'cluster' | 'node' };
      if (scope === 'node') {
        const { pool } = await poolInForce(deps, ref);
        if (!pool.setDraining(url, draining)) throw unknownTarget(ref, url);
        return healthReport(pool);
      }
      const ifMatch = parseIfMatch(request.headers['if-match']);
      const item = await deps.service.get('upstreams', ref);
      const targets = (item.targets as Upstream['targets']).map((t) => (sameTarget(t.url, url) ? { ...t, draining } : t));
      if (!(item.targets as Upstream['targets']).some((t) => sameTarget(t.url, url))) throw unknownTarget(ref, url);
      const saved = await deps.service.replace('upstreams', item.id, { ...item, targets }, { ifMatch: ifMatch ?? [String(item.version)] }, deps.actorOf(request));
      reply.header('etag', etagFor(saved.version));
      // This node applies the new revision within milliseconds; wait for it so the answer shows the drain.
      await deps.node?.reload();
      return deps.node?.upstreams.get(saved.name as string) ? healthReport(deps.node.upstreams.get(saved.name as string)!) : [];
    },
  );
}

function unknownTarget(ref: string, url: string): ProblemError {
  return new ProblemError(400, 'validation', `upstream "${ref}" has no target ${url}`, { errors: [{ path: '/url', message: 'is not a target of this upstream' }] });
}
