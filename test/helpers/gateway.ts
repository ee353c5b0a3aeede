import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { defaultStages } from '../../plugins/index.js';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import type { GatewayMetrics } from '../../gateway/src/metrics/gateway-metrics.js';
import type { EdgeSettings } from '../../gateway/src/node/edge-settings.js';
import { GatewayNode } from '../../gateway/src/node/gateway-node.js';
import { systemRoutes } from '../../gateway/src/node/system-routes.js';
import { FileStore } from '../../gateway/src/store/file-store.js';

export interface TestGateway {
  url: string;
  node: GatewayNode;
  store: FileStore;
  storePath: string;
  metrics: GatewayMetrics;
  /** Replace the whole configuration and wait until this node serves it. */
  apply(config: unknown): Promise<number>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Share another gateway's store (two nodes, one store). */
  storePath?: string;
  /** Poll interval of the file store watcher. */
  pollMs?: number;
  /** Share rate-limit counters through this Redis. */
  redisUrl?: string;
  /** Proxies in front of the gateway whose x-forwarded-for is believed. */
  trustedProxies?: string[];
  /** One log line per request, to `logger`. */
  accessLog?: boolean;
  /** Access lines buffered to this file descriptor, as `npm start` writes them to stdout. */
  accessLogFd?: number;
  logger?: import('fastify').FastifyBaseLogger;
  /** Trace requests with this tracer (gateway/src/tracing/). */
  tracer?: import('../../gateway/src/contracts/request-tracer.js').RequestTracer;
  /** The edge listeners (TLS, h2c, PROXY protocol); see test/edge/edge-node.ts. */
  edge?: EdgeSettings;
}

/** A real gateway node on 127.0.0.1 with an embedded store in a temp dir. */
export async function startGateway(config: unknown, options: StartOptions = {}): Promise<TestGateway> {
  const dir = options.storePath ? undefined : await mkdtemp(join(tmpdir(), 'switchboard-test-'));
  const storePath = options.storePath ?? join(dir!, 'store.json');
  const store = new FileStore(storePath, { pollMs: options.pollMs ?? 200 });
  await store.open();
  if (config !== undefined) await replaceConfig(store, config, 'test');
  const logger = options.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const node = new GatewayNode({ store, logger, port: 0, host: '127.0.0.1', redisUrl: options.redisUrl, trustedProxies: options.trustedProxies, edge: options.edge, accessLog: options.accessLog, accessLogFd: options.accessLogFd, tracer: options.tracer, stages: defaultStages(), systemRoutes });
  const metrics = node.metrics;
  await node.start();
  return {
    url: node.url,
    node,
    store,
    storePath,
    metrics,
    async apply(next: unknown) {
      const state = await replaceConfig(store, next, 'test');
      await waitFor(() => node.revision >= state.revision, 5000, `revision ${state.revision} in force`);
      return state.revision;
    },
    async close() {
      await node.close();
      await store.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
