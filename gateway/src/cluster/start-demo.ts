import { DEMO_UPSTREAM, demoConfig, demoPlan, demoWorkerPorts, startDemoWorkers } from '../demo.js';
import type { GatewayEnv } from '../env.js';
import type { Logger } from 'pino';
import { replaceConfig } from '../config/replace-config.js';
import type { ConfigStore } from '../store/port.js';
import { issueKey } from '../keys/key-service.js';

/** The demo's simulated GPUs (and, on an empty store, its configuration and key); the key if one was issued. */
export async function startDemo(env: GatewayEnv, store: ConfigStore, logger: Logger, closers: Array<() => Promise<unknown>>): Promise<string | undefined> {
  const state = await store.read();
  const empty = state.upstreams.length === 0 && state.routes.length === 0 && state.consumers.length === 0;
  const demo = demoPlan({ demo: env.demo, storeKind: store.kind, empty, hasDemoUpstream: state.upstreams.some((u) => u.name === DEMO_UPSTREAM) });
  if (!demo.workers) return undefined;
  const ports = demoWorkerPorts();
  const workers = await startDemoWorkers(ports);
  closers.push(() => Promise.all(workers.map((w) => w.close())));
  if (!demo.seed) return undefined;
  const seeded = await replaceConfig(store, demoConfig(ports), 'system', 'demo.seed');
  logger.info({ revision: seeded.revision }, 'seeded the demo configuration');
  return issueDemoKey(store);
}

/** The demo partner's key, created through the key store so it is hashed like any other. */
async function issueDemoKey(store: ConfigStore): Promise<string | undefined> {
  return (await issueKey(store, 'acme', { actor: 'system' })).key;
}

