import { stat } from 'node:fs/promises';
import type { StageServices } from '../generation/route-stage.js';
import type { ConfigStore } from '../store/port.js';

/** /healthz re-checks the store at most this often, in the background: health probes must stay cheap. */
const RECHECK_MS = 2_000;
/** A store that takes longer than this to answer counts as unreachable (a hung MongoDB). */
const CHECK_TIMEOUT_MS = 2_000;

export interface StoreHealthReport {
  store: 'reachable' | 'unreachable';
  /** When the store was last found so (ISO time); undefined before the first check. */
  storeCheckedAt: string | undefined;
}

/**
 * Whether the node can still read its configuration store, for /healthz. A node whose store is
 * away keeps serving its last good revision (so it stays healthy, 200), but an operator must be
 * able to see it. Checked only when asked and at most every 2 s, answered from the last result
 * so a health probe never waits on the store.
 */
export class StoreHealth {
  private reachable = true;
  private checkedAt: number | undefined;
  private checking = false;
  private readonly probe: () => Promise<unknown>;

  constructor(store: ConfigStore) {
    this.probe = store.kind === 'file' && 'path' in store ? fileProbe(store, String(store.path)) : () => store.revision();
  }

  report(): StoreHealthReport {
    if (!this.checking && (this.checkedAt === undefined || Date.now() - this.checkedAt >= RECHECK_MS)) void this.check();
    return { store: this.reachable ? 'reachable' : 'unreachable', storeCheckedAt: this.checkedAt === undefined ? undefined : new Date(this.checkedAt).toISOString() };
  }

  /** One check now; resolves when it is known. */
  async check(): Promise<boolean> {
    this.checking = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.probe(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
        }),
      ]);
      this.reachable = true;
    } catch {
      this.reachable = false;
    } finally {
      clearTimeout(timer);
      this.checkedAt = Date.now();
      this.checking = false;
    }
    return this.reachable;
  }
}

/** The node's one StoreHealth, kept across generations in its shared services (public and admin /healthz). */
export function storeHealthOf(services: Pick<StageServices, 'shared' | 'store'>): StoreHealth {
  let health = services.shared.get('store-health') as StoreHealth | undefined;
  if (health === undefined) services.shared.set('store-health', (health = new StoreHealth(services.store)));
  return health;
}

/**
 * The embedded store is one JSON file: read and parse it only when it changed since it last
 * parsed (a 10 000-route document takes tens of milliseconds to parse, on the event loop).
 */
function fileProbe(store: ConfigStore, path: string): () => Promise<unknown> {
  let good: { mtimeMs: number; size: number } | undefined;
  return async () => {
    const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined; // an empty store reads as empty: fine
      throw err;
    });
    if (info && good && info.mtimeMs === good.mtimeMs && info.size === good.size) return;
    await store.revision();
    good = info && { mtimeMs: info.mtimeMs, size: info.size };
  };
}
