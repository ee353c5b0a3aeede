import type { GatewayEnv } from '../env.js';
import type { Logger } from 'pino';
import type { TracingSettings } from '../tracing/tracing-settings.js';
import { ClusterPrimary } from './primary.js';
import { printStarted } from './start-lines.js';

/** The primary of a WORKERS > 1 node: the demo once, then the workers (cluster/primary.ts). */
export async function runPrimary(env: GatewayEnv, tracing: TracingSettings | undefined, logger: Logger, workers: number, exec: string): Promise<void> {
  const closers: Array<() => Promise<unknown>> = [];
  let demoKey: string | undefined;
  // DEMO=0 (production): the primary never touches the store, nor loads the demo's code.
  if (env.demo !== false) {
    const [{ openStore }, { startDemo }] = await Promise.all([import('../store/open-store.js'), import('./start-demo.js')]);
    const store = await openStore(env.storeUrl);
    try {
      demoKey = await startDemo(env, store, logger, closers);
    } finally {
      await store.close().catch(() => {});
    }
  }
  const primary = new ClusterPrimary({ exec, count: workers, logger, shutdownTimeoutMs: env.shutdownTimeoutMs });
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, workers }, 'shutting down: every worker drains its in-flight requests');
    await primary.stop('SIGTERM');
    for (const close of closers) await close().catch(() => {});
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  const ready = await primary.start();
  printStarted(env, tracing, ready, demoKey);
}

