import { join } from 'node:path';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { GATEWAY_V8_FLAGS, gatewayProcessEnv } from '../../gateway/src/runtime-flags.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { startChild, type Child } from './child-processes.js';
import { nodeBinary, repoRoot } from './paths.js';
import { BENCH_HOST } from './ports.js';

/**
 * The gateway as `npm start` runs it (dist/gateway/src/main.js with GATEWAY_V8_FLAGS), for the
 * benches that compare one process of it with another proxy: its configuration written into a
 * fresh embedded store first, so the first request already meets the configured routes.
 */

export interface GatewayChildOptions {
  /** The embedded store's file; written with `config` before the gateway starts. */
  storePath: string;
  config: unknown;
  port: number;
  adminPort: number;
  /** WORKERS; 1 unless the bench compares worker counts. */
  workers?: number;
  /** More environment (the TLS listener's port and files). */
  env?: Record<string, string>;
}

export async function startGatewayChild(name: string, options: GatewayChildOptions): Promise<Child> {
  const store = new FileStore(options.storePath);
  await store.open();
  try {
    await replaceConfig(store, options.config, 'bench');
  } finally {
    await store.close();
  }
  return startChild(name, nodeBinary, [...GATEWAY_V8_FLAGS, join(repoRoot, 'dist/gateway/src/main.js')], {
    cwd: repoRoot,
    env: {
      ...gatewayProcessEnv(process.env),
      WORKERS: String(options.workers ?? 1),
      STORE_URL: `file:${options.storePath}`,
      DEMO: '0',
      PORT: String(options.port),
      HOST: BENCH_HOST,
      ADMIN_PORT: String(options.adminPort),
      ADMIN_EMAIL: 'bench@example.test',
      ADMIN_PASSWORD: 'bench-password-not-secret',
      LOG_LEVEL: 'warn',
      // Nothing balances across a bench's gateway; its stop need not wait for a load balancer.
      DRAIN_DELAY_MS: '0',
      ...options.env,
    },
  });
}
