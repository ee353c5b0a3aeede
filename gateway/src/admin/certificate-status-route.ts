import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AdminDeps } from './admin-deps.js';
import { ItemRef, ProblemSchema } from './admin-schemas.js';
import { notInForce } from './pool-in-force.js';

const CertificateStatusSchema = Type.Object({
  name: Type.String(),
  served: Type.Boolean({ description: "Whether this node's TLS listener presents it to clients whose SNI it names." }),
  notAfter: Type.Optional(Type.String({ format: 'date-time', description: 'When the served leaf certificate expires.' })),
  reason: Type.Optional(Type.String({ description: 'Why it is not served (expired, unreadable, no TLS listener).' })),
});

/**
 * A stored certificate as this node's TLS listener holds it: a certificate that passed the
 * checks at save can still be skipped when loaded (it expired while stored, or was written to
 * the store directly), and the listener then serves without it. The log and
 * `switchboard_tls_certificates_skipped` say so too; this names it per certificate.
 */
export function registerCertificateStatusRoute(app: FastifyInstance, deps: AdminDeps): void {
  app.get(
    '/certificates/:id/status',
    {
      schema: {
        tags: ['certificates'],
        summary: "The certificate on this node's TLS listener: served until when, or skipped and why",
        params: ItemRef,
        response: { 200: CertificateStatusSchema, 401: ProblemSchema, 403: ProblemSchema, 404: ProblemSchema },
      },
    },
    async (request) => {
      const item = await deps.service.get('certificates', (request.params as { id: string }).id);
      const status = deps.node?.certificateStatus(item.name as string);
      if (!status) throw notInForce(`certificate "${item.name as string}"`);
      return status;
    },
  );
}
