import type { FastifyInstance } from 'fastify';
import type { ConfigState } from '../store/port.js';

/** Routes every generation serves on the public listener, whatever the configuration. */
export function systemRoutes(app: FastifyInstance, state: ConfigState): void {
  // Static routes win over configured wildcards in find-my-way, so `/*` cannot shadow this.
  app.get('/healthz', (_request, reply) => {
    reply.header('cache-control', 'no-store').send({ status: 'ok', revision: state.revision });
  });
}
