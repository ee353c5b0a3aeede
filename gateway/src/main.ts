import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { readEnv } from './env.js';
import { redactUrls } from './redact-url.js';
import { createLogger } from './logger.js';
import { readTracingSettings } from './tracing/tracing-settings.js';
import { workerCount } from './cluster/worker-count.js';
import { WorkerLink } from './cluster/worker-link.js';

/**
 * `npm start`: the gateway on the configured store, with the demo on an empty one. WORKERS > 1
 * (node:cluster): this process becomes the primary — demo, forks, restarts, the node-wide
 * metrics merge — and each worker runs the gateway (cluster/run-gateway.ts), worker 1 with the
 * admin listener. Each role imports only its own code: a primary that loaded Fastify, the
 * plugins and the admin API it never runs would hold ≈ 70 MB of RSS for nothing.
 */
async function main(): Promise<void> {
  const env = readEnv();
  const tracing = readTracingSettings();
  const logger = createLogger(env.logLevel);
  const workers = workerCount(env.workers);
  if (cluster.isPrimary && workers > 1) {
    const { runPrimary } = await import('./cluster/run-primary.js');
    return runPrimary(env, tracing, logger, workers, fileURLToPath(import.meta.url));
  }
  const { runGateway } = await import('./cluster/run-gateway.js');
  return runGateway(env, tracing, logger, cluster.isWorker ? new WorkerLink() : undefined);
}

main().catch((err) => {
  process.stderr.write(`switchboard failed to start: ${redactUrls(String((err as Error).stack ?? err))}\n`);
  process.exit(1);
});
