import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { GatewayConfig } from '../../../spec/config.js';
import { Route } from '../../../spec/route.js';
import { Upstream } from '../../../spec/upstream.js';
import { etagFor, parseIfMatch } from '../config/if-match.js';
import type { AdminDeps, AdminRouteConfig } from './admin-deps.js';
import { registerConfigDiffRoute } from './config-diff-route.js';
import { AuditEntrySchema, NewRevision, Paging, ProblemSchema, RevisionNumber, RevisionSummary, ValidateResponse } from './admin-schemas.js';

const problems = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema, 412: ProblemSchema, 503: ProblemSchema };

function paging(query: unknown): { limit: number; offset: number } {
  const q = query as { limit?: string; offset?: string };
  return { limit: Math.min(Number(q.limit ?? 100), 1000), offset: Number(q.offset ?? 0) };
}

/** Whole-configuration calls: export/replace, dry-run validation, audit log, revisions and rollback. */
export function registerConfigRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { service } = deps;

  app.get('/config', { schema: { tags: ['config'], summary: 'Export the configuration (no secrets); ETag is the revision', response: { 200: GatewayConfig, ...problems } } }, async (_request, reply) => {
    const { revision, config } = await service.exportConfig();
    reply.header('etag', etagFor(revision));
    return config;
  });

  app.put(
    '/config',
    {
      schema: {
        tags: ['config'],
        summary: 'Replace the whole configuration atomically',
        description:
          'All or nothing: any schema or reference error refuses the whole body and names every bad field. JWT secrets left out keep their stored values (so an export can be edited and sent back). If-Match: "<revision>" guards against concurrent changes.',
        body: GatewayConfig,
        response: { 200: NewRevision, ...problems },
      },
      // The service validates schema and references in one pass so that one answer names every
      // bad field; Fastify's own check would stop at schema errors.
      validatorCompiler: () => () => true,
    },
    async (request, reply) => {
      const result = await service.replaceConfig(request.body, { ifMatch: parseIfMatch(request.headers['if-match']) }, deps.actorOf(request));
      reply.header('etag', etagFor(result.revision));
      return result;
    },
  );

  registerConfigDiffRoute(app, deps);

  for (const [kind, schema] of [['routes', Route], ['upstreams', Upstream]] as const) {
    app.post(
      `/${kind}/validate`,
      {
        config: { minRole: 'viewer' } satisfies AdminRouteConfig as never,
        schema: { tags: [kind], summary: `Check a ${kind.slice(0, -1)} as a save would, without saving`, body: schema, response: { 200: ValidateResponse(schema), ...problems } },
      },
      async (request) => ({ valid: true as const, item: await service.check(kind, request.body) }),
    );
  }

  app.get('/audit', { schema: { tags: ['history'], summary: 'Audit log, newest first', querystring: Paging, response: { 200: Type.Array(AuditEntrySchema), ...problems } } }, (request) =>
    service.audit(paging(request.query)),
  );

  app.get('/revisions', { schema: { tags: ['history'], summary: 'Kept configuration revisions, newest first', querystring: Paging, response: { 200: Type.Array(RevisionSummary), ...problems } } }, (request) =>
    service.revisions(paging(request.query).limit),
  );

  app.get('/revisions/:n', { schema: { tags: ['history'], summary: 'One kept revision (no secrets)', params: RevisionNumber, response: problems } }, (request) =>
    service.revision(Number((request.params as { n: string }).n)),
  );

  app.post(
    '/revisions/:n/restore',
    { schema: { tags: ['history'], summary: 'Roll back to a kept revision (as a new revision, audited)', params: RevisionNumber, response: { 200: NewRevision, ...problems } } },
    (request) => service.restore(Number((request.params as { n: string }).n), deps.actorOf(request)),
  );
}
