import type { ApiKeyRecord, Consumer } from '../../../spec/consumer.js';
import { newId } from '../config/ids.js';
import { ProblemError } from '../errors.js';
import { RevisionConflictError, type AuditEntry, type ConfigState, type ConfigStore, type Stored } from '../store/port.js';
import { generateKey, hashKey, newPepper, PEPPER_SECRET } from './api-key.js';

/** What the admin API shows of a key: everything but the hash. */
export interface KeyView {
  id: string;
  consumer: string;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  /** active | expired | revoked, computed at read time. */
  status: 'active' | 'expired' | 'revoked';
}

/** The one answer that carries the plaintext key. */
export interface IssuedKey {
  id: string;
  key: string;
  prefix: string;
  createdAt: string;
  expiresAt: string | null;
}

export interface KeyChangeOptions {
  actor: string;
}

const MAX_ATTEMPTS = 8;

export function findConsumer(state: ConfigState, idOrName: string): Stored<Consumer> {
  const consumer = state.consumers.find((c) => c.id === idOrName) ?? state.consumers.find((c) => c.name === idOrName);
  if (!consumer) throw new ProblemError(404, 'not-found', `no consumer with id or name "${idOrName}"`);
  return consumer;
}

function findKey(state: ConfigState, consumer: Stored<Consumer>, keyId: string): ApiKeyRecord {
  const record = state.keys.find((k) => k.id === keyId && k.consumer === consumer.id);
  if (!record) throw new ProblemError(404, 'not-found', `consumer "${consumer.name}" has no key "${keyId}"`);
  return record;
}

export function keyView(record: ApiKeyRecord, lastUsed: Record<string, string> = {}, nowMs = Date.now()): KeyView {
  const recorded = lastUsed[record.id];
  const lastUsedAt = recorded && (!record.lastUsedAt || recorded > record.lastUsedAt) ? recorded : (record.lastUsedAt ?? null);
  const status = record.revokedAt ? 'revoked' : record.expiresAt && Date.parse(record.expiresAt) <= nowMs ? 'expired' : 'active';
  return {
    id: record.id,
    consumer: record.consumer,
    prefix: record.prefix,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt ?? null,
    revokedAt: record.revokedAt ?? null,
    lastUsedAt,
    status,
  };
}

/** Audit entries carry the view (prefix, dates), never the hash or the key. */
function auditEntry(actor: string, action: string, record: ApiKeyRecord, before: ApiKeyRecord | null, after: ApiKeyRecord | null): Omit<AuditEntry, 'revision'> {
  return {
    at: new Date().toISOString(),
    actor,
    action,
    kind: 'key',
    id: record.id,
    before: before ? keyView(before) : null,
    after: after ? keyView(after) : null,
  };
}

function parseExpiry(expiresAt: string | null | undefined, nowMs: number): string | null {
  if (expiresAt === undefined || expiresAt === null) return null;
  const ms = Date.parse(expiresAt);
  if (Number.isNaN(ms))
    throw new ProblemError(400, 'validation', 'expiresAt must be an RFC 3339 date-time', { errors: [{ path: '/expiresAt', message: 'must be a date-time' }] });
  if (ms <= nowMs)
    throw new ProblemError(400, 'validation', 'expiresAt must be in the future', { errors: [{ path: '/expiresAt', message: 'must be in the future' }] });
  return new Date(ms).toISOString();
}

/**
 * Read, change, compare-and-swap; again on a conflict. Key changes are not rollback points
 * (`keepRevision: false`): rolling the configuration back must never resurrect a revoked key.
 */
async function commitKeyChange<T>(
  store: ConfigStore,
  actor: string,
  action: string,
  change: (state: ConfigState) => { next: ConfigState | undefined; audit: Omit<AuditEntry, 'revision'>[]; result: T },
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const state = await store.read();
    const { next, audit, result } = change(state);
    if (next === undefined) return result;
    try {
      await store.commit({ ...next, revision: state.revision + 1 }, { expectedRevision: state.revision, audit, keepRevision: false, actor, action });
      return result;
    } catch (err) {
      if (err instanceof RevisionConflictError && attempt < MAX_ATTEMPTS) continue;
      throw err;
    }
  }
}

/** A fresh key whose lookup prefix no live record shares, and its record. */
function mintKey(state: ConfigState, pepper: string, consumerId: string, createdAt: string, expiresAt: string | null): { record: ApiKeyRecord; key: string } {
  const taken = new Set(state.keys.map((k) => k.prefix));
  for (;;) {
    const { key, prefix } = generateKey();
    if (taken.has(prefix)) continue;
    const record: ApiKeyRecord = {
      id: newId(),
      consumer: consumerId,
      prefix,
      hash: hashKey(Buffer.from(pepper, 'base64url'), key).toString('base64url'),
      createdAt,
      expiresAt,
    };
    return { record, key };
  }
}

/** The pepper, created in the same commit as the first key when the store has none yet. */
function withPepper(state: ConfigState): { secrets: Record<string, string>; pepper: string } {
  const existing = state.secrets[PEPPER_SECRET];
  if (existing) return { secrets: state.secrets, pepper: existing };
  const pepper = newPepper();
  return { secrets: { ...state.secrets, [PEPPER_SECRET]: pepper }, pepper };
}

/** Issue a key for a consumer (id or name). The plaintext key is in the answer and nowhere else. */
export async function issueKey(
  store: ConfigStore,
  consumerIdOrName: string,
  options: KeyChangeOptions & { expiresAt?: string | null },
): Promise<IssuedKey> {
  return commitKeyChange(store, options.actor, 'key.create', (state) => {
    const now = Date.now();
    const consumer = findConsumer(state, consumerIdOrName);
    const expiresAt = parseExpiry(options.expiresAt, now);
    const { secrets, pepper } = withPepper(state);
    const { record, key } = mintKey(state, pepper, consumer.id, new Date(now).toISOString(), expiresAt);
    return {
      next: { ...state, secrets, keys: [...state.keys, record] },
      audit: [auditEntry(options.actor, 'key.create', record, null, record)],
      result: { id: record.id, key, prefix: record.prefix, createdAt: record.createdAt, expiresAt: record.expiresAt ?? null },
    };
  });
}

export async function listKeys(store: ConfigStore, consumerIdOrName: string): Promise<KeyView[]> {
  const [state, lastUsed] = await Promise.all([store.read(), store.readKeyUsage()]);
  const consumer = findConsumer(state, consumerIdOrName);
  const now = Date.now();
  return state.keys.filter((k) => k.consumer === consumer.id).map((k) => keyView(k, lastUsed, now));
}

/** Revoke at once: the next generation on every node no longer knows the key. Idempotent. */
export async function revokeKey(store: ConfigStore, consumerIdOrName: string, keyId: string, options: KeyChangeOptions): Promise<KeyView> {
  return commitKeyChange(store, options.actor, 'key.revoke', (state) => {
    const consumer = findConsumer(state, consumerIdOrName);
    const before = findKey(state, consumer, keyId);
    if (before.revokedAt) return { next: undefined, audit: [], result: keyView(before) };
    const after: ApiKeyRecord = { ...before, revokedAt: new Date().toISOString() };
    return {
      next: { ...state, keys: state.keys.map((k) => (k === before ? after : k)) },
      audit: [auditEntry(options.actor, 'key.revoke', after, before, after)],
      result: keyView(after),
    };
  });
}

/**
 * Issue a successor and let the old key live `graceSeconds` more (0 = revoked now), so a
 * partner can roll the new key out before the old one stops working. The successor keeps the
 * old key's expiry unless one is given.
 */
export async function rotateKey(
  store: ConfigStore,
  consumerIdOrName: string,
  keyId: string,
  options: KeyChangeOptions & { graceSeconds?: number; expiresAt?: string | null },
): Promise<IssuedKey & { replaced: KeyView }> {
  const grace = options.graceSeconds ?? 0;
  if (!Number.isInteger(grace) || grace < 0)
    throw new ProblemError(400, 'validation', 'graceSeconds must be a non-negative integer', { errors: [{ path: '/graceSeconds', message: 'must be an integer >= 0' }] });
  return commitKeyChange(store, options.actor, 'key.rotate', (state) => {
    const now = Date.now();
    const consumer = findConsumer(state, consumerIdOrName);
    const before = findKey(state, consumer, keyId);
    if (before.revokedAt) throw new ProblemError(409, 'key-revoked', `key "${keyId}" is revoked and cannot be rotated`);
    const inheritedExpiry = before.expiresAt && Date.parse(before.expiresAt) > now ? before.expiresAt : null;
    const expiresAt = options.expiresAt !== undefined ? parseExpiry(options.expiresAt, now) : inheritedExpiry;
    const { secrets, pepper } = withPepper(state);
    const { record, key } = mintKey(state, pepper, consumer.id, new Date(now).toISOString(), expiresAt);
    let after: ApiKeyRecord;
    if (grace === 0) after = { ...before, revokedAt: new Date(now).toISOString() };
    else {
      const graceEnd = now + grace * 1000;
      const end = before.expiresAt ? Math.min(Date.parse(before.expiresAt), graceEnd) : graceEnd;
      after = { ...before, expiresAt: new Date(end).toISOString() };
    }
    return {
      next: { ...state, secrets, keys: [...state.keys.map((k) => (k === before ? after : k)), record] },
      audit: [
        auditEntry(options.actor, 'key.rotate', after, before, after),
        auditEntry(options.actor, 'key.create', record, null, record),
      ],
      result: {
        id: record.id,
        key,
        prefix: record.prefix,
        createdAt: record.createdAt,
        expiresAt: record.expiresAt ?? null,
        replaced: keyView(after),
      },
    };
  });
}
