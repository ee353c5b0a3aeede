import type { FastifyInstance } from 'fastify';
import { registerAdminJwt, guardAdminRoutes, registerLoginRoute } from './admin-auth.js';
import type { AdminDeps } from './admin-deps.js';
import { registerCollection } from './collection-routes.js';
import { registerConfigRoutes } from './config-routes.js';
import { registerConsumerKeyRoutes } from './consumer-keys-routes.js';
import { registerHealthRoutes } from './health-routes.js';
import { registerQueueRoute } from './queue-routes.js';
import { registerStreamStatusRoute } from './stream-status-route.js';
import { registerCertificateStatusRoute } from './certificate-status-route.js';
import { installProblemHandler } from './problem-handler.js';
import { registerOverviewRoute } from './overview-routes.js';
import { registerTargetWeightRoute } from './target-weight-route.js';
import { registerUsageRoute } from './usage-routes.js';
import { ITEM_SCHEMAS } from './admin-schemas.js';

export interface AdminApiOptions {
  deps: AdminDeps;
  jwtSecret: string;
}

/** `/api/v1`: login in the open, everything else behind a token and a role. */
export async function adminApi(app: FastifyInstance, options: AdminApiOptions): Promise<void> {
  const { deps } = options;
  installProblemHandler(app);
  await registerAdminJwt(app, options.jwtSecret);
  registerLoginRoute(app, deps);
  await app.register(async (secured) => {
    guardAdminRoutes(secured, deps);
    registerCollection(secured, deps, 'upstreams');
    registerCollection(secured, deps, 'routes');
    registerCollection(secured, deps, 'consumers');
    registerCollection(secured, deps, 'certificates');
    registerCollection(secured, deps, 'streams');
    registerCollection(secured, deps, 'users', 'admin');
    registerConfigRoutes(secured, deps);
    registerHealthRoutes(secured, deps);
    registerQueueRoute(secured, deps);
    registerStreamStatusRoute(secured, deps);
    registerCertificateStatusRoute(secured, deps);
    registerTargetWeightRoute(secured, deps, ITEM_SCHEMAS.upstreams);
    registerOverviewRoute(secured, deps, deps.node?.metrics.traffic);
    registerConsumerKeyRoutes(secured, { store: deps.service.store });
    registerUsageRoute(secured, deps);
  });
}
