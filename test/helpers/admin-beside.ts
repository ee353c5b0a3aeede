import { pino } from 'pino';
import { startAdmin, type AdminServer } from '../../gateway/src/admin/admin-server.js';
import type { TestGateway } from './gateway.js';

/**
 * The admin listener beside a test gateway, on its store, node and metrics, as `npm start` runs
 * them: for tests that read the admin's /metrics or /healthz. Its own file, so the many tests
 * that need only the gateway do not load the admin API.
 */
export function startAdminBeside(gateway: TestGateway, login: { email: string; password: string }): Promise<AdminServer> {
  return startAdmin({
    env: { adminPort: 0, adminHost: '127.0.0.1', adminEmail: login.email, adminPassword: login.password },
    store: gateway.store,
    node: gateway.node,
    logger: pino({ level: 'silent' }),
    metrics: gateway.metrics,
  });
}
