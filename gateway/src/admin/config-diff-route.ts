import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { CONFIG_KINDS, GatewayConfig } from '../../../spec/config.js';
import { mustCompile } from '../config/compile-check.js';
import { planConfig } from '../config/config-plan.js';
import { etagFor } from '../config/if-match.js';
import type { AdminDeps, AdminRouteConfig } from './admin-deps.js';
import { ProblemSchema } from './admin-schemas.js';

const FieldChange = Type.Object({
  path: Type.String({ description: 'JSON path of the field inside the item, e.g. targets[1].weight.' }),
  before: Type.Optional(Type.Unknown()),
  after: Type.Optional(Type.Unknown()),
  secret: Type.Optional(Type.Literal(true, { description: 'A write-only field changed; its values are not shown.' })),
});

export const ConfigPlanSchema = Type.Object({
  revision: Type.Integer({ description: 'The revision the plan was computed against; send it as If-Match on PUT /config.' }),
  changes: Type.Array(
    Type.Object({
      kind: Type.Union(CONFIG_KINDS.map((k) => Type.Literal(k))),
      name: Type.String(),
      action: Type.Union([Type.Literal('added'), Type.Literal('changed'), Type.Literal('removed')]),
      fields: Type.Array(FieldChange),
    }),
  ),
  unchanged: Type.Integer({ description: 'Items the body holds exactly as stored.' }),
});

/**
 * `POST /config/diff`: what `PUT /config` with this body would change, item by item, without
 * changing anything (`switchboard diff` and `apply --dry-run`). The body is checked exactly as
 * the write checks it, dry compile included, so a clean plan is a write that will be accepted
 * unless someone changes the configuration first (send the plan's revision as If-Match).
 */
export function registerConfigDiffRoute(app: FastifyInstance, deps: AdminDeps): void {
  app.post(
    '/config/diff',
    {
      config: { minRole: 'viewer' } satisfies AdminRouteConfig as never,
      schema: {
        tags: ['config'],
        summary: 'Compare a whole configuration with the stored one, without saving',
        description: 'Added, changed (with field paths) and removed items; 400 names every bad field as PUT /config would. ETag is the compared revision.',
        body: GatewayConfig,
        response: { 200: ConfigPlanSchema, 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 503: ProblemSchema },
      },
      // As PUT /config: one pass names every bad field (schema and references together).
      validatorCompiler: () => () => true,
    },
    async (request, reply) => {
      const current = await deps.service.read();
      const { plan, next } = planConfig(current, request.body);
      const compiles = deps.node?.dryCompile;
      if (plan.changes.length > 0 && compiles) await mustCompile(compiles, { ...next, revision: current.revision + 1 });
      reply.header('etag', etagFor(current.revision));
      return plan;
    },
  );
}
