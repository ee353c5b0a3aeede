import { CONFIG_KINDS, type GatewayConfig } from '../../../spec/config.js';
import { validateConfig } from '../../../spec/validate.js';
import { withAllCollections, type ConfigState, type RevisionRecord } from '../store/port.js';
type Versioned = { id: string; version: number; updatedAt: string; [field: string]: unknown };

function content(item: Versioned): string {
  const { id: _i, version: _v, createdAt: _c, updatedAt: _u, ...rest } = item;
  return JSON.stringify(rest);
}

/**
 * The state that rolls the configuration back to `record`: its upstreams, routes and consumers
 * exactly (same ids, names and content, secrets included), with versions moved past the current
 * ones so that any ETag taken before the rollback is stale after it. Users, keys and server
 * secrets are not part of a revision and stay as they are — except keys of consumers the
 * rollback removes, which go with them, as on a delete.
 */
export function restoredState(current: ConfigState, recorded: RevisionRecord): ConfigState {
  const record = { ...recorded, state: withAllCollections(recorded.state) };
  // Re-validate: a revision written by an older build must still make sense to this one.
  validateConfig(structuredClone(record.state) as GatewayConfig);
  const now = new Date().toISOString();
  const next: ConfigState = { ...current };
  for (const kind of CONFIG_KINDS) {
    const byId = new Map((current[kind] as unknown as Versioned[]).map((i) => [i.id, i] as const));
    next[kind] = (record.state[kind] as unknown as Versioned[]).map((old) => {
      const live = byId.get(old.id);
      if (live && content(live) === content(old)) return live;
      return { ...structuredClone(old), version: Math.max(old.version, live?.version ?? 0) + 1, updatedAt: now };
    }) as never;
  }
  const consumerIds = new Set(next.consumers.map((c) => c.id));
  next.keys = current.keys.filter((k) => consumerIds.has(k.consumer));
  return next;
}
