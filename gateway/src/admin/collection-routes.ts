import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Role } from '../../../spec/user.js';
import { SINGULAR, type ItemKind } from '../config/config-service.js';
import { etagFor, parseIfMatch } from '../config/if-match.js';
import type { AdminDeps, AdminRouteConfig } from './admin-deps.js';
import { ITEM_SCHEMAS, ItemRef, ProblemSchema, VIEW_SCHEMAS } from './admin-schemas.js';

const errorResponses = { 400: ProblemSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema, 409: ProblemSchema, 412: ProblemSchema, 503: ProblemSchema };

/**
 * The five calls of one collection (list, create, read, replace, delete), items addressed by id
 * or by name, served with `ETag: "<version>"` and honouring `If-Match`. The spec schema is the
 * route schema, so the body is checked before the handler runs and OpenAPI documents it.
 */
export function registerCollection(app: FastifyInstance, deps: AdminDeps, kind: ItemKind, minRole?: Role): void {
  const schema = ITEM_SCHEMAS[kind];
  const view = VIEW_SCHEMAS[kind];
  const one = SINGULAR[kind];
  const tags = [kind];
  const config = (minRole ? { minRole } : {}) as AdminRouteConfig as never;
  const itemUrl = `/${kind}/:id`;

  app.get(`/${kind}`, { config, schema: { tags, summary: `List ${kind}`, response: { 200: Type.Array(view), ...errorResponses } } }, () =>
    deps.service.list(kind),
  );

  app.post(`/${kind}`, { config, schema: { tags, summary: `Create a ${one}`, body: schema, response: { 201: view, ...errorResponses } } }, async (request, reply) => {
    const item = await deps.service.create(kind, request.body, deps.actorOf(request));
    reply.code(201).header('etag', etagFor(item.version)).header('location', `${request.url.replace(/\/$/, '')}/${item.id}`);
    return item;
  });

  app.get(itemUrl, { config, schema: { tags, summary: `Read a ${one} by id or name`, params: ItemRef, response: { 200: view, ...errorResponses } } }, async (request, reply) => {
    const item = await deps.service.get(kind, (request.params as { id: string }).id);
    reply.header('etag', etagFor(item.version));
    return item;
  });

  app.put(
    itemUrl,
    {
      config,
      schema: {
        tags,
        summary: `Replace a ${one}`,
        description: 'Send If-Match: "<version>" (or the version in the body) to refuse the write with 412 when someone changed the item since you read it.',
        params: ItemRef,
        body: schema,
        response: { 200: view, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id: ref } = request.params as { id: string };
      const item = await deps.service.replace(kind, ref, request.body, { ifMatch: parseIfMatch(request.headers['if-match']) }, deps.actorOf(request));
      reply.header('etag', etagFor(item.version));
      return item;
    },
  );

  app.delete(itemUrl, { config, schema: { tags, summary: `Delete a ${one}`, params: ItemRef, response: { 204: Type.Null(), ...errorResponses } } }, async (request, reply) => {
    const { id: ref } = request.params as { id: string };
    await deps.service.remove(kind, ref, { ifMatch: parseIfMatch(request.headers['if-match']) }, deps.actorOf(request));
    return reply.code(204).send();
  });
}
