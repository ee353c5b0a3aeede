import type { FastifyBaseLogger } from 'fastify';
import type { ConfigStore } from '../store/port.js';

/** Long enough that a busy key costs one store write per interval per node, short enough to be useful. */
export const USAGE_FLUSH_MS = 5_000;

/**
 * Last-use times of API keys, gathered in memory and written in one batch every few seconds:
 * a write per request would put the store on the hot path. Lives in the node's shared services,
 * so it outlives generations. A node that dies loses at most one interval of last-use times.
 */
export class KeyUsageBatch {
  private pending = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: () => ConfigStore | undefined,
    private readonly logger: FastifyBaseLogger,
    private readonly intervalMs = USAGE_FLUSH_MS,
  ) {}

  /** Hot path: one Map write, no allocation for a key seen before. */
  touch(keyId: string, nowMs: number): void {
    this.pending.set(keyId, nowMs);
    if (this.timer === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.intervalMs);
      this.timer.unref();
    }
  }

  async flush(): Promise<void> {
    if (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const store = this.store();
    if (!store) return;
    const lastUsed: Record<string, string> = {};
    for (const [id, ms] of batch) lastUsed[id] = new Date(ms).toISOString();
    this.flushing = store
      .recordKeyUsage(lastUsed)
      .catch((err) => {
        this.logger.warn({ err, keys: batch.size }, 'could not record API key last-use times; retrying with the next batch');
        for (const [id, ms] of batch) if (!((this.pending.get(id) ?? 0) >= ms)) this.touch(id, ms);
      })
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
