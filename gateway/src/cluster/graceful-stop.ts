import type { Server as HttpServer } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { drainListeners } from '../node/drain.js';
import type { Lifecycle } from '../node/lifecycle.js';

export interface GracefulStopOptions {
  lifecycle: Lifecycle;
  listeners: () => readonly HttpServer[];
  /** TCP (L4) stream listeners: stop accepting after the delay, connections get the rest of the timeout. */
  closeStreams?: (graceMs: number) => Promise<unknown>;
  drainDelayMs: number;
  shutdownTimeoutMs: number;
  logger: FastifyBaseLogger;
  /** After the listeners drained: the admin listener, the node, the demo, the store. */
  closeRest: () => Promise<void>;
}

/** Clean-up after the drain that takes longer than this is stuck; the process exits 1 rather than hang. */
const CLEANUP_LIMIT_MS = 10_000;

/**
 * SIGTERM/SIGINT for one gateway process (single, or a worker of a cluster, whose primary
 * forwards the signal): /readyz 503 at once, drain (node/drain.ts), close the rest, exit 0.
 * A worker whose primary has gone (IPC 'disconnect') stops the same way, so none is orphaned.
 */
export function installGracefulStop(options: GracefulStopOptions): void {
  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    const startedAt = Date.now();
    options.lifecycle.drain();
    options.logger.info(
      { signal: why, drainDelayMs: options.drainDelayMs, shutdownTimeoutMs: options.shutdownTimeoutMs },
      'shutting down: /readyz answers 503; accepting for the drain delay, then finishing in-flight requests',
    );
    const { cut } = await drainListeners(options.listeners(), { drainDelayMs: options.drainDelayMs, shutdownTimeoutMs: options.shutdownTimeoutMs, startedAt, alongside: options.closeStreams });
    if (cut > 0) options.logger.warn({ connections: cut }, 'SHUTDOWN_TIMEOUT_MS reached: connections still open were closed');
    const stuck = setTimeout(() => {
      options.logger.error('shutdown clean-up did not finish; exiting');
      process.exit(1);
    }, CLEANUP_LIMIT_MS);
    stuck.unref();
    await options.closeRest().catch((err) => options.logger.warn({ err }, 'shutdown clean-up failed'));
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('disconnect', () => void stop('primary exited'));
}
