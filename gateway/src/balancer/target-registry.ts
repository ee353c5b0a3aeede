import { Pool } from 'undici';
import { TargetState, targetKey } from './target-state.js';

/** A target's shared state and its keep-alive connection pool. */
export interface TargetEntry {
  readonly state: TargetState;
  readonly dispatcher: Pool;
  /** How many upstream pools list this target; released at zero. */
  refs: number;
}

export interface TargetRegistryOptions {
  connectTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
}

/**
 * One entry per distinct worker URL for the whole process. Entries survive configuration
 * generations, so a reload keeps warm connections, health verdicts and latency history; an
 * entry is dropped only when no pool lists the target any more.
 */
export class TargetRegistry {
  private readonly entries = new Map<string, TargetEntry>();

  constructor(private readonly options: TargetRegistryOptions = {}) {}

  acquire(url: string): TargetEntry {
    const key = targetKey(url);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = {
        state: new TargetState(key),
        dispatcher: new Pool(key, {
          // No cap on connections: GPU streams are long, and a pool smaller than the peak
          // concurrency makes requests wait behind each other inside the gateway. The
          // per-target circuit breaker (maxConnections) is what limits load, visibly.
          connections: null,
          pipelining: 1,
          keepAliveTimeout: this.options.keepAliveTimeoutMs ?? 30_000,
          keepAliveMaxTimeout: 600_000,
          connect: { timeout: this.options.connectTimeoutMs ?? 5_000 },
        }),
        refs: 0,
      };
      this.entries.set(key, entry);
    }
    entry.refs++;
    return entry;
  }

  release(url: string): void {
    const key = targetKey(url);
    const entry = this.entries.get(key);
    if (!entry) return;
    if (--entry.refs > 0) return;
    this.entries.delete(key);
    entry.state.emit('released', entry.state);
    // Let in-flight requests finish before the connections go.
    entry.dispatcher.close().catch(() => {});
  }

  get(url: string): TargetEntry | undefined {
    return this.entries.get(targetKey(url));
  }

  all(): IterableIterator<TargetEntry> {
    return this.entries.values();
  }

  async close(): Promise<void> {
    const closing = [...this.entries.values()].map((e) => e.dispatcher.destroy().catch(() => {}));
    this.entries.clear();
    await Promise.all(closing);
  }
}
