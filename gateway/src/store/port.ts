import type { ConfigKind } from '../../../spec/config.js';
import type { Certificate } from '../../../spec/certificate.js';
import type { ApiKeyRecord, Consumer } from '../../../spec/consumer.js';
import type { Route } from '../../../spec/route.js';
import type { Stream } from '../../../spec/stream.js';
import type { Upstream } from '../../../spec/upstream.js';

/** A user of the admin API as stored (the password only as an scrypt hash). */
export interface StoredUser {
  id: string;
  email: string;
  role: 'admin' | 'editor' | 'viewer';
  passwordHash: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** Items in the store always carry these (the spec marks them optional for input). */
export type Stored<T> = T & { id: string; version: number; createdAt: string; updatedAt: string };

/**
 * The whole configuration at one revision. The store holds it as one versioned value so that
 * every change, however many items it touches, is one compare-and-swap: there is no state in
 * which a route points at an upstream that is half deleted.
 */
export interface ConfigState {
  revision: number;
  upstreams: Stored<Upstream>[];
  routes: Stored<Route>[];
  consumers: Stored<Consumer>[];
  /** TLS certificates chosen by SNI (private keys included: never exported or returned). */
  certificates: Stored<Certificate>[];
  /** TCP (L4) listeners. */
  streams: Stored<Stream>[];
  /** API keys: hashes only. */
  keys: ApiKeyRecord[];
  users: StoredUser[];
  /** Server secrets generated once (admin JWT signing secret, API-key pepper). Never exported. */
  secrets: Record<string, string>;
}

export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  kind: string;
  id: string | null;
  before: unknown;
  after: unknown;
  revision: number;
}

/** A past configuration kept for rollback. */
export interface RevisionRecord {
  revision: number;
  at: string;
  actor: string;
  action: string;
  state: Omit<ConfigState, 'secrets' | 'users' | 'keys' | 'revision'>;
}

/** A kept revision without its snapshot: what a history list shows. */
export type RevisionSummary = Omit<RevisionRecord, 'state'> & { counts: Record<ConfigKind, number> };

/** Thrown by `commit` when `expectedRevision` is no longer current; callers re-read and retry. */
export class RevisionConflictError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`store revision moved from ${expected} to ${actual}`);
    this.name = 'RevisionConflictError';
  }
}

/** Thrown when the backing store cannot be reached; the admin API answers 503. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

export interface CommitOptions {
  /** The revision the new state was computed from; a different current revision → RevisionConflictError. */
  expectedRevision: number;
  /** Audit entries written in the same atomic step (revision filled in by the store). */
  audit: Omit<AuditEntry, 'revision'>[];
  /** Whether this change should be kept as a rollback point (config changes: yes; key lastUsed: no). */
  keepRevision: boolean;
  actor: string;
  action: string;
}

/**
 * The store port. Adapters (embedded file, MongoDB) stay thin: read a state, swap it atomically,
 * tell watchers. Validation, versions per item and conflict rules live above, once, in the
 * config service, so both adapters behave the same by construction.
 */
export interface ConfigStore {
  readonly kind: 'file' | 'mongodb';
  open(): Promise<void>;
  close(): Promise<void>;
  /** The current state. */
  read(): Promise<ConfigState>;
  /** The current revision number, cheaply (used by polling watchers). */
  revision(): Promise<number>;
  /** Atomically replace the state; `next.revision` must be `expectedRevision + 1`. */
  commit(next: ConfigState, options: CommitOptions): Promise<ConfigState>;
  /** Called after the revision changes, whoever changed it (this node or another). */
  watch(listener: (revision: number) => void): () => void;
  listRevisions(limit?: number): Promise<RevisionRecord[]>;
  /** Newest first, without loading the snapshots; stores that keep them apart implement it (MongoDB). */
  listRevisionSummaries?(limit?: number): Promise<RevisionSummary[]>;
  getRevision(revision: number): Promise<RevisionRecord | undefined>;
  listAudit(options?: { limit?: number; offset?: number }): Promise<AuditEntry[]>;
  /**
   * API-key last-use times, kept beside the configuration rather than in it: recording them
   * must not make a new revision (every node would recompile for a timestamp). Merged: a later
   * time wins per key.
   */
  recordKeyUsage(lastUsed: Record<string, string>): Promise<void>;
  readKeyUsage(): Promise<Record<string, string>>;
}

export function emptyState(): ConfigState {
  return { revision: 0, upstreams: [], routes: [], consumers: [], certificates: [], streams: [], keys: [], users: [], secrets: {} };
}

/** The part of a state a revision record keeps (what a rollback restores). */
export function revisionState(state: ConfigState): RevisionRecord['state'] {
  return { upstreams: state.upstreams, routes: state.routes, consumers: state.consumers, certificates: state.certificates, streams: state.streams };
}

/**
 * A state or revision written by a build before a collection existed lacks it: read it as empty,
 * so every reader can rely on every collection being a list.
 */
export function withAllCollections<T extends Partial<Pick<ConfigState, 'certificates' | 'streams'>>>(state: T): T & Pick<ConfigState, 'certificates' | 'streams'> {
  return { ...state, certificates: state.certificates ?? [], streams: state.streams ?? [] };
}
