import type { FastifyInstance } from 'fastify';
import { registerDocsPortal } from '../docs/docs-routes.js';
import type { StageServices } from '../generation/route-stage.js';
import type { ConfigState } from '../store/port.js';
import { storeHealthOf } from './store-health.js';

/** Routes every generation serves on the public listener, whatever the configuration. */
export async function systemRoutes(app: FastifyInstance, state: ConfigState, services: StageServices): Promise<void> {
  // Static routes win over configured wildcards in find-my-way, so `/*` cannot shadow this.
  const storeHealth = storeHealthOf(services);
  app.get('/healthz', (_request, reply) => {
    // Still 200 when degraded: the node serves (an older revision, or its last good one while the
    // store is away); the body says which and why.
    const config = services.configStatus?.() ?? { servingRevision: state.revision, degraded: false };
    const store = storeHealth.report();
    const degraded = config.degraded || store.store === 'unreachable';
    reply.header('cache-control', 'no-store').send({ status: degraded ? 'degraded' : 'ok', revision: state.revision, ...store, ...(config.degraded ? { config } : {}) });
  });
  // The partner docs portal: /docs (swagger-ui) and /docs/openapi.json, per revision.
  await registerDocsPortal(app, { state, services });
}
