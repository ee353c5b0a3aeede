import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { Stream } from '../../../spec/stream.js';
import { ProblemError } from '../errors.js';
import type { AdminDeps } from './admin-deps.js';
import { ItemRef, ProblemSchema } from './admin-schemas.js';
import { notInForce } from './pool-in-force.js';

const StreamStatusSchema = Type.Object({
  name: Type.String(),
  host: Type.String({ description: 'Address the listener binds.' }),
  port: Type.Integer(),
  listening: Type.Boolean({ description: 'False while the port cannot be bound (retried every 2 s).' }),
  activeConnections: Type.Integer({ description: 'Client connections open on this node now.' }),
  lastError: Type.Optional(Type.Object({ message: Type.String(), at: Type.String() })),
});

/**
 * A TCP stream's listener as this node runs it: bound or not (and why not), open connections.
 * Each node binds for itself, so a port taken on one host shows here, not in the collection.
 */
export function registerStreamStatusRoute(app: FastifyInstance, deps: AdminDeps): void {
  app.get(
    '/streams/:id/status',
    {
      schema: {
        tags: ['streams'],
        summary: "The stream's listener on this node: bound or the bind error, open connections",
        params: ItemRef,
        response: { 200: StreamStatusSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema },
      },
    },
    async (request) => {
      const ref = (request.params as { id: string }).id;
      const stream = (await deps.service.get('streams', ref)) as unknown as Stream;
      if (stream.enabled === false) throw new ProblemError(404, 'not-in-force', `stream "${stream.name}" is disabled (enabled: false)`);
      const status = deps.node?.streams.status().find((s) => s.name === stream.name);
      if (!status) throw notInForce(`stream "${stream.name}"`);
      return status;
    },
  );
}
