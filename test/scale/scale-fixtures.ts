import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { defaultStages } from '../../plugins/index.js';
import type { RouteStage } from '../../gateway/src/generation/route-stage.js';
import { GatewayNode } from '../../gateway/src/node/gateway-node.js';
import { systemRoutes } from '../../gateway/src/node/system-routes.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { LogLines } from '../helpers/log-lines.js';

/** `n` routes `r0…` on `/svc0/*…`, one upstream: the shape of the configuration that took nodes down. */
export function manyRoutes(n: number, upstreamUrl: string, extra: Record<string, unknown> = {}) {
  return {
    upstreams: [{ name: 'pool', targets: [{ url: upstreamUrl }] }],
    routes: Array.from({ length: n }, (_, i) => ({ name: `r${i}`, upstream: 'pool', paths: [`/svc${i}/*`], methods: ['GET'], ...extra })),
  };
}

export interface ScaleNode {
  node: GatewayNode;
  store: FileStore;
  storePath: string;
  logs: LogLines;
  close(): Promise<void>;
}

/** A temp-dir file store, for filling before a node starts on it. */
export async function tempStore(pollMs = 100): Promise<{ store: FileStore; storePath: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-scale-'));
  const storePath = join(dir, 'store.json');
  const store = new FileStore(storePath, { pollMs });
  await store.open();
  return { store, storePath, dispose: () => rm(dir, { recursive: true, force: true }) };
}

/** A real node on 127.0.0.1 over `store`, logging to memory, with the default stages plus `stages`. */
export async function startNode(store: FileStore, storePath: string, dispose: () => Promise<void>, stages: RouteStage[] = []): Promise<ScaleNode> {
  const logs = new LogLines();
  const node = new GatewayNode({ store, logger: pino({ level: 'info' }, logs), port: 0, host: '127.0.0.1', stages: [...defaultStages(), ...stages], systemRoutes });
  await node.start();
  return {
    node,
    store,
    storePath,
    logs,
    async close() {
      await node.close();
      await store.close();
      await dispose();
    },
  };
}
