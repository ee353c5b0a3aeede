import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { defaultStages } from '../../plugins/index.js';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import type { EdgeSettings } from '../../gateway/src/node/edge-settings.js';
import { GatewayNode } from '../../gateway/src/node/gateway-node.js';
import { systemRoutes } from '../../gateway/src/node/system-routes.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { waitFor } from '../helpers/gateway.js';

export interface EdgeNode {
  node: GatewayNode;
  store: FileStore;
  storePath: string;
  url: string;
  /** https://127.0.0.1:port when TLS is on. */
  tlsUrl: string | undefined;
  port: number;
  tlsPort: number | undefined;
  apply(config: unknown): Promise<number>;
  close(): Promise<void>;
}

/** A real gateway node with the edge listeners (TLS, h2c, PROXY protocol) on 127.0.0.1. */
export async function startEdgeNode(config: unknown, edge: EdgeSettings, options: { storePath?: string; trustedProxies?: string[] } = {}): Promise<EdgeNode> {
  const dir = options.storePath ? undefined : await mkdtemp(join(tmpdir(), 'switchboard-edge-'));
  const storePath = options.storePath ?? join(dir!, 'store.json');
  const store = new FileStore(storePath, { pollMs: 100 });
  await store.open();
  if (config !== undefined) await replaceConfig(store, config, 'test');
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const node = new GatewayNode({ store, logger, port: 0, host: '127.0.0.1', edge: { tlsPort: edge.tlsPort ?? (edge.defaultCertificate ? 0 : undefined), ...edge }, trustedProxies: options.trustedProxies, stages: defaultStages(), systemRoutes });
  await node.start();
  const tlsUrl = node.tlsUrl;
  return {
    node,
    store,
    storePath,
    url: node.url,
    tlsUrl,
    port: node.address.port,
    tlsPort: tlsUrl ? Number(new URL(tlsUrl).port) : undefined,
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
