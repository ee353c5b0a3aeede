import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { GatewayEnv } from '../env.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { GatewayNode } from '../node/gateway-node.js';
import type { ConfigStore } from '../store/port.js';

export interface AdminOptions {
  env: GatewayEnv;
  store: ConfigStore;
  node: GatewayNode;
  logger: FastifyBaseLogger;
  metrics: GatewayMetrics;
}

export interface AdminServer {
  url: string;
  initialEmail: string | undefined;
  initialPassword: string | undefined;
  close(): Promise<void>;
}

/** The admin listener (loopback by default): metrics now; the admin API and console build on it. */
export async function startAdmin(options: AdminOptions): Promise<AdminServer> {
  const app = Fastify({ logger: false });
  app.get('/metrics', (_request, reply) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8').send(options.metrics.render());
  });
  app.get('/healthz', () => ({ status: 'ok', revision: options.node.revision }));
  await app.listen({ port: options.env.adminPort, host: options.env.adminHost });
  const address = app.server.address() as import('node:net').AddressInfo;
  return {
    url: `http://${options.env.adminHost}:${address.port}`,
    initialEmail: undefined,
    initialPassword: undefined,
    close: () => app.close(),
  };
}
