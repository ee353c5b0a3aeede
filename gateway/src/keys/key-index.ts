import { timingSafeEqual } from 'node:crypto';
import type { Caller } from '../contracts/caller.js';
import type { ConfigState } from '../store/port.js';
import { hashKey, PEPPER_SECRET, prefixOf } from './api-key.js';

interface IndexedKey {
  id: string;
  hash: Buffer;
  /** Epoch ms; Infinity when the key never expires. */
  expiresAtMs: number;
  caller: Caller;
}

/** Most deployments have far fewer live keys; past this the cache starts over (cheap, rare). */
const VERIFIED_CACHE_LIMIT = 10_000;

/**
 * The API keys of one configuration revision, indexed by lookup prefix. Built once per
 * generation: a revoked key is simply absent from the next generation's index, which is how
 * revocation reaches every node as fast as the configuration does.
 */
export class KeyIndex {
  private readonly byPrefix = new Map<string, IndexedKey[]>();
  /** Keys this generation already verified → their entry: skips the HMAC on the hot path. */
  private readonly verified = new Map<string, IndexedKey>();
  private readonly pepper: Buffer | undefined;
  /** Used to spend the same HMAC work on unknown prefixes as on known ones. */
  private readonly decoy = Buffer.alloc(32);

  constructor(state: ConfigState) {
    const pepper = state.secrets[PEPPER_SECRET];
    this.pepper = pepper ? Buffer.from(pepper, 'base64url') : undefined;
    const consumers = new Map(state.consumers.map((c) => [c.id, c] as const));
    for (const record of state.keys) {
      if (record.revokedAt) continue;
      const consumer = consumers.get(record.consumer);
      if (!consumer) continue;
      const entry: IndexedKey = {
        id: record.id,
        hash: Buffer.from(record.hash, 'base64url'),
        expiresAtMs: record.expiresAt ? Date.parse(record.expiresAt) : Infinity,
        caller: { id: consumer.id, name: consumer.name, consumer },
      };
      const list = this.byPrefix.get(record.prefix);
      if (list) list.push(entry);
      else this.byPrefix.set(record.prefix, [entry]);
    }
  }

  get size(): number {
    return this.byPrefix.size;
  }

  /**
   * The key's id and caller, or undefined for unknown, revoked and expired keys alike (the
   * caller answers all three with the same 401).
   */
  verify(key: string, nowMs: number): IndexedKey | undefined {
    let entry = this.verified.get(key);
    if (entry === undefined) {
      entry = this.verifySlow(key);
      if (entry === undefined) return undefined;
      if (this.verified.size >= VERIFIED_CACHE_LIMIT) this.verified.clear();
      this.verified.set(key, entry);
    }
    return entry.expiresAtMs > nowMs ? entry : undefined;
  }

  private verifySlow(key: string): IndexedKey | undefined {
    const prefix = prefixOf(key);
    if (prefix === undefined || this.pepper === undefined) return undefined;
    const digest = hashKey(this.pepper, key);
    const candidates = this.byPrefix.get(prefix);
    if (candidates === undefined) {
      timingSafeEqual(digest, this.decoy);
      return undefined;
    }
    let found: IndexedKey | undefined;
    for (const candidate of candidates) if (candidate.hash.length === 32 && timingSafeEqual(digest, candidate.hash)) found = candidate;
    return found;
  }
}

const indexes = new WeakMap<ConfigState, KeyIndex>();

/** One index per revision, shared by every route of the generation. */
export function keyIndexFor(state: ConfigState): KeyIndex {
  let index = indexes.get(state);
  if (!index) {
    index = new KeyIndex(state);
    indexes.set(state, index);
  }
  return index;
}
