import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { Target, type Upstream } from '../../../spec/upstream.js';
import { etagFor, parseIfMatch } from '../config/if-match.js';
import { ProblemError } from '../errors.js';
import type { AdminDeps } from './admin-deps.js';
import { ItemRef, ProblemSchema } from './admin-schemas.js';

const sameTarget = (a: string, b: string) => a.replace(/\/$/, '') === b.replace(/\/$/, '');

export const WeightBody = Type.Object(
  { url: Type.String({ description: 'The target URL as configured.' }), weight: Target.properties.weight },
  { additionalProperties: false },
);

/**
 * `POST /upstreams/{id}/targets/weight`: change one target's weight. It is an edit of the
 * upstream item (audited, every node, survives restarts), so it honours If-Match like a PUT
 * and answers with the saved upstream and its new ETag.
 */
export function registerTargetWeightRoute(app: FastifyInstance, deps: AdminDeps, itemSchema: unknown): void {
  app.post(
    '/upstreams/:id/targets/weight',
    {
      schema: {
        tags: ['upstreams'],
        summary: "Change one target's weight (a configuration change; If-Match guards it)",
        params: ItemRef,
        body: WeightBody,
        response: { 200: itemSchema, 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 412: ProblemSchema, 503: ProblemSchema },
      },
    },
    async (request, reply) => {
      const { id: ref } = request.params as { id: string };
      const { url, weight } = request.body as { url: string; weight: number };
      const item = await deps.service.get('upstreams', ref);
      const targets = item.targets as Upstream['targets'];
      if (!targets.some((t) => sameTarget(t.url, url)))
        throw new ProblemError(400, 'validation', `upstream "${ref}" has no target ${url}`, { errors: [{ path: '/url', message: 'is not a target of this upstream' }] });
      const next = { ...item, targets: targets.map((t) => (sameTarget(t.url, url) ? { ...t, weight } : t)) };
      const ifMatch = parseIfMatch(request.headers['if-match']);
      const saved = await deps.service.replace('upstreams', item.id, next, { ifMatch: ifMatch ?? [String(item.version)] }, deps.actorOf(request));
      reply.header('etag', etagFor(saved.version));
      return saved;
    },
  );
}
