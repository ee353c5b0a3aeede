import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { createSpecAjv } from '../../../spec/validate.js';
import { ConfigService } from '../config/config-service.js';
import type { GatewayEnv } from '../env.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { GatewayNode } from '../node/gateway-node.js';
import { registerLifecycleRoutes, type Lifecycle, type WorkerIdentity } from '../node/lifecycle.js';
import { storeHealthOf } from '../node/store-health.js';
import type { ConfigStore } from '../store/port.js';
import { adminApi } from './admin-api.js';
import { prepareAdminIdentity } from './admin-identity.js';
import { registerAdminOpenApi, registerOpenApiDocument } from './admin-openapi.js';
import { installProblemHandler } from './problem-handler.js';
import { registerConsole } from './console-static.js';

export interface AdminOptions {
  env: Pick<GatewayEnv, 'adminPort' | 'adminHost' | 'adminEmail' | 'adminPassword'>;
  store: ConfigStore;
  node: GatewayNode | undefined;
  logger: FastifyBaseLogger;
  metrics: GatewayMetrics | undefined;
  /** The whole node's metrics when it runs several worker processes (cluster/worker-link.ts); else `metrics`. */
  scrape?: () => Promise<string>;
  /** /livez and /readyz beside the admin API, answering for this process. */
  lifecycle?: Lifecycle;
  identity?: WorkerIdentity;
  /** The built console (default admin-ui/dist); tests point it elsewhere. */
  consoleDir?: string;
}

export interface AdminServer {
  url: string;
  initialEmail: string | undefined;
  initialPassword: string | undefined;
  app: FastifyInstance;
  service: ConfigService;
  close(): Promise<void>;
}

/**
 * The admin listener (loopback by default): the admin API under /api/v1, its OpenAPI document
 * and docs, /metrics and /healthz. Request bodies are validated by the same ajv settings as
 * spec/validate.ts (every error at once, defaults applied, no silent stripping of unknown
 * fields, no type coercion) so the API and `switchboard validate` judge a document alike.
 */
export async function startAdmin(options: AdminOptions): Promise<AdminServer> {
  // Saves are dry-compiled as this node would compile them: a revision that cannot run is a 400.
  const service = new ConfigService(options.store, options.node?.dryCompile);
  const identity = await prepareAdminIdentity(service, options.env);
  const app = Fastify({
    loggerInstance: options.logger,
    // One line per admin request would drown the gateway's own log; errors and sign-ins are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024 * 1024,
    schemaController: { compilersFactory: { buildValidator: specValidatorCompiler as never } },
  });
  installProblemHandler(app);
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/plain; version=0.0.4; charset=utf-8').send((await (options.scrape?.() ?? options.metrics?.scrape())) ?? ''),
  );
  if (options.lifecycle) registerLifecycleRoutes(app, options.lifecycle, options.identity);
  app.get('/healthz', { schema: { hide: true } }, () => {
    const config = options.node?.configStatus;
    const store = options.node ? storeHealthOf(options.node.services).report() : undefined;
    const degraded = config?.degraded || store?.store === 'unreachable';
    return { status: degraded ? 'degraded' : 'ok', revision: options.node?.revision ?? null, ...store, ...(config?.degraded ? { config } : {}) };
  });
  await registerAdminOpenApi(app);
  registerOpenApiDocument(app);
  await app.register(adminApi, {
    prefix: '/api/v1',
    jwtSecret: identity.jwtSecret,
    deps: { service, node: options.node, logger: options.logger, actorOf: (request) => ({ email: request.adminUser?.email ?? 'unknown' }) },
  });
  await registerConsole(app, options.consoleDir);
  await app.listen({ port: options.env.adminPort, host: options.env.adminHost });
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    initialEmail: identity.initialEmail,
    initialPassword: identity.initialPassword,
    app,
    service,
    close: () => app.close(),
  };
}

/** Fastify's validator compiler over one spec ajv per admin server. */
function specValidatorCompiler() {
  const ajv = createSpecAjv();
  return ({ schema }: { schema: unknown }) => ajv.compile(schema as object);
}
