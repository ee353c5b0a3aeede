import { RevisionListeners } from './revision-listeners.js';
import { randomBytes } from 'node:crypto';
import { MongoClient, type ChangeStream, type ClientSession, type Collection, type Db, type Document } from 'mongodb';
import { guardUnavailable } from './mongo-errors.js';
import { fromMongo, toMongo } from './mongo-keys.js';
import {
  revisionState,
  RevisionConflictError,
  StoreUnavailableError,
  type AuditEntry,
  type CommitOptions,
  type ConfigState,
  type ConfigStore,
  type RevisionRecord,
} from './port.js';

export interface MongoStoreOptions {
  /** Database name; default: the one in the URL, else "switchboard". */
  dbName?: string;
  keepRevisions?: number;
  keepAudit?: number;
  /** Revision polling interval when change streams are unavailable (standalone server). */
  pollMs?: number;
  /** How long an operation waits for a reachable server before the store reports itself unavailable. */
  serverSelectionTimeoutMS?: number;
}

/** The configuration kinds, one collection each; the field that must be unique in each. */
const KINDS = { upstreams: 'name', routes: 'name', consumers: 'name', certificates: 'name', streams: 'name', users: 'email', keys: 'id' } as const;
type Kind = keyof typeof KINDS;
const KIND_NAMES = Object.keys(KINDS) as Kind[];

interface MetaDocument {
  _id: 'config';
  revision: number;
  secrets: Record<string, string>;
  /** CAS-only mode: set while a commit is writing its collections (see commit). */
  writing?: string | null;
  writingSince?: Date | null;
}

type StoredDoc = { _id: string; _pos: number; [field: string]: unknown };

/** A commit holding `writing` longer than this is assumed dead; readers stop waiting for it. */
const STALE_WRITE_MS = 15_000;

/**
 * The MongoDB store. One collection per kind (unique index on the name), a `meta` document
 * holding the revision and server secrets, `revisions` and `audit` collections, and key last-use
 * times in `key_usage`.
 *
 * Commit = compare-and-swap on the meta revision (`{_id:'config', revision: expected}` →
 * `expected + 1`), which serialises writers across every node. On a replica set or sharded
 * cluster the CAS and all collection writes, the revision record and the audit entries run in
 * one transaction: all or nothing, invisible until committed. On a standalone server (no
 * transactions) the CAS still guarantees one writer per revision, and a `writing` marker on the
 * meta document tells readers to wait until the writes are done; the trade-off is that a writer
 * that dies between the CAS and the end of its writes leaves a partly applied revision behind,
 * which readers accept after STALE_WRITE_MS and the next commit overwrites completely (it diffs
 * against what the collections actually hold). Use a replica set in production (docker/ does).
 *
 * Reads are consistent in both modes: meta revision, then the collections, then the revision
 * again; if it moved or a write was in progress, read again.
 */
export class MongoStore implements ConfigStore {
  readonly kind = 'mongodb' as const;
  private readonly client: MongoClient;
  private readonly dbName: string | undefined;
  private readonly keepRevisions: number;
  private readonly keepAudit: number;
  private readonly pollMs: number;
  private db!: Db;
  /** Whether the deployment supports multi-document transactions (replica set / mongos). */
  transactions = false;
  private readonly listeners = new RevisionListeners();
  private changeStream: ChangeStream | undefined;
  private poller: NodeJS.Timeout | undefined;
  private checking = false;
  private closed = false;

  constructor(url: string, options: MongoStoreOptions = {}) {
    this.client = new MongoClient(url, {
      serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 5000,
      // Admin writes must survive a primary failover once acknowledged.
      writeConcern: { w: 'majority' },
      retryWrites: true,
      retryReads: true,
      // An absent optional field must read back absent, not as null.
      ignoreUndefined: true,
    });
    this.dbName = options.dbName;
    this.keepRevisions = options.keepRevisions ?? 50;
    this.keepAudit = options.keepAudit ?? 10_000;
    this.pollMs = options.pollMs ?? 1000;
  }

  private meta(): Collection<MetaDocument> {
    return this.db.collection<MetaDocument>('meta');
  }
  private items(kind: Kind): Collection<StoredDoc> {
    return this.db.collection<StoredDoc>(kind);
  }

  async open(): Promise<void> {
    await guardUnavailable('connect', async () => {
      await this.client.connect();
      this.db = this.client.db(this.dbName);
      const hello = await this.db.admin().command({ hello: 1 });
      this.transactions = Boolean(hello.setName) || hello.msg === 'isdbgrid';
      await Promise.all([
        ...KIND_NAMES.map((kind) => this.items(kind).createIndex({ [KINDS[kind]]: 1 }, { unique: true, name: `unique_${KINDS[kind]}` })),
        this.items('keys').createIndex({ consumer: 1 }),
        this.db.collection('revisions').createIndex({ revision: -1 }, { unique: true }),
        this.db.collection('audit').createIndex({ revision: -1, index: -1 }),
      ]);
      await this.meta().updateOne({ _id: 'config' }, { $setOnInsert: { revision: 0, secrets: {}, writing: null } }, { upsert: true });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
    await this.changeStream?.close().catch(() => {});
    this.changeStream = undefined;
    await this.client.close();
  }

  async read(): Promise<ConfigState> {
    return guardUnavailable('read', async () => {
      for (let attempt = 0; ; attempt++) {
        const before = await this.meta().findOne({ _id: 'config' });
        if (!before) throw new StoreUnavailableError('the MongoDB store is not initialised (meta document missing)');
        if (before.writing && !this.writeIsStale(before) && attempt < 200) {
          await sleep(25);
          continue;
        }
        const lists = await Promise.all(KIND_NAMES.map((kind) => this.items(kind).find({}, { sort: { _pos: 1 } }).toArray()));
        const after = await this.meta().findOne({ _id: 'config' }, { projection: { revision: 1, writing: 1 } });
        if (after?.revision !== before.revision || (after.writing && !before.writing)) {
          if (attempt < 200) continue;
        }
        const state = { revision: before.revision, secrets: { ...(before.secrets ?? {}) } } as ConfigState;
        KIND_NAMES.forEach((kind, i) => {
          (state as unknown as Record<Kind, unknown[]>)[kind] = lists[i]!.map(fromDoc);
        });
        return state;
      }
    });
  }

  private writeIsStale(meta: MetaDocument): boolean {
    return !meta.writingSince || Date.now() - meta.writingSince.getTime() > STALE_WRITE_MS;
  }

  async revision(): Promise<number> {
    return guardUnavailable('read revision', async () => (await this.meta().findOne({ _id: 'config' }, { projection: { revision: 1 } }))?.revision ?? 0);
  }

  async commit(next: ConfigState, options: CommitOptions): Promise<ConfigState> {
    const state: ConfigState = { ...next, revision: options.expectedRevision + 1 };
    await guardUnavailable('commit', async () => {
      if (this.transactions) {
        const session = this.client.startSession();
        try {
          await session.withTransaction(() => this.writeCommit(state, options, session), {
            readConcern: { level: 'snapshot' },
            writeConcern: { w: 'majority' },
          });
        } finally {
          await session.endSession();
        }
      } else {
        await this.writeCommit(state, options, undefined);
      }
    });
    void this.check();
    return state;
  }

  private async writeCommit(state: ConfigState, options: CommitOptions, session: ClientSession | undefined): Promise<void> {
    const expected = options.expectedRevision;
    const marker = session ? null : randomBytes(8).toString('hex');
    const claimed = await this.meta().updateOne(
      { _id: 'config', revision: expected },
      { $set: { revision: state.revision, secrets: state.secrets, writing: marker, writingSince: marker ? new Date() : null } },
      { session },
    );
    if (claimed.matchedCount === 0) {
      const actual = (await this.meta().findOne({ _id: 'config' }, { projection: { revision: 1 }, session }))?.revision ?? -1;
      throw new RevisionConflictError(expected, actual);
    }
    for (const kind of KIND_NAMES) await this.writeKind(kind, (state as unknown as Record<Kind, Array<{ id: string }>>)[kind], session);
    const at = new Date().toISOString();
    if (options.keepRevision) {
      const record: RevisionRecord = {
        revision: state.revision,
        at,
        actor: options.actor,
        action: options.action,
        state: revisionState(state),
      };
      await this.db.collection('revisions').insertOne(toMongo({ _id: state.revision as never, ...record }) as Document, { session });
      const oldest = await this.db.collection('revisions').find({}, { projection: { revision: 1 }, sort: { revision: -1 }, skip: this.keepRevisions, limit: 1, session }).toArray();
      if (oldest[0]) await this.db.collection('revisions').deleteMany({ revision: { $lte: oldest[0].revision } }, { session });
    }
    if (options.audit.length) {
      await this.db.collection('audit').insertMany(
        options.audit.map((a, index) => toMongo({ ...a, revision: state.revision, index }) as Document),
        { session },
      );
      const oldest = await this.db.collection('audit').find({}, { projection: { revision: 1 }, sort: { revision: -1, index: -1 }, skip: this.keepAudit, limit: 1, session }).toArray();
      if (oldest[0]) await this.db.collection('audit').deleteMany({ revision: { $lt: oldest[0].revision } }, { session });
    }
    if (marker) await this.meta().updateOne({ _id: 'config', writing: marker }, { $set: { writing: null, writingSince: null } });
  }

  /**
   * Make one kind's collection equal to `items`: delete what went or changed, insert what is
   * new or changed. Deleting changed documents before inserting them keeps the unique name
   * index satisfied even when two items swap names in one commit.
   */
  private async writeKind(kind: Kind, items: Array<{ id: string }>, session: ClientSession | undefined): Promise<void> {
    const collection = this.items(kind);
    const existing = new Map((await collection.find({}, { session }).toArray()).map((d) => [d._id, JSON.stringify(d)] as const));
    const wanted = items.map((item, pos) => toDoc(item, pos));
    const changed = wanted.filter((d) => existing.get(d._id) !== JSON.stringify(d));
    const keep = new Set(wanted.map((d) => d._id));
    const drop = [...existing.keys()].filter((id) => !keep.has(id));
    const remove = [...drop, ...changed.filter((d) => existing.has(d._id)).map((d) => d._id)];
    if (remove.length) await collection.deleteMany({ _id: { $in: remove } }, { session });
    if (changed.length) await collection.insertMany(changed, { session });
  }

  watch(listener: (revision: number) => void): () => void {
    return this.listeners.add(listener, () => {
      if (!this.poller) this.startWatching();
    });
  }

  private startWatching(): void {
    if (this.transactions) this.openChangeStream();
    // Polling also backs up a change stream (e.g. while it resumes after a failover).
    this.poller = setInterval(() => void this.check(), this.changeStream ? Math.max(this.pollMs, 5000) : this.pollMs);
    this.poller.unref();
    void this.check();
  }

  private openChangeStream(): void {
    try {
      const stream = this.meta().watch([{ $match: { 'documentKey._id': 'config' } }]);
      stream.on('change', () => void this.check());
      stream.on('error', () => {
        // Fall back to polling at full rate; the driver resumes streams itself where it can.
        this.changeStream = undefined;
        if (this.poller) clearInterval(this.poller);
        if (this.closed) return;
        this.poller = setInterval(() => void this.check(), this.pollMs);
        this.poller.unref();
      });
      this.changeStream = stream;
    } catch {
      this.changeStream = undefined;
    }
  }

  private async check(): Promise<void> {
    if (this.checking || this.listeners.size === 0 || this.closed) return;
    this.checking = true;
    try {
      const meta = await this.meta().findOne({ _id: 'config' }, { projection: { revision: 1, writing: 1, writingSince: 1 } });
      if (!meta || (meta.writing && !this.writeIsStale(meta as MetaDocument))) return;
      this.listeners.tell(meta.revision);
    } catch {
      // Unreachable: the node keeps its configuration; the next tick tries again.
    } finally {
      this.checking = false;
    }
  }

  async listRevisions(limit = 50): Promise<RevisionRecord[]> {
    return guardUnavailable('list revisions', async () =>
      (await this.db.collection('revisions').find({}, { sort: { revision: -1 }, limit, projection: { _id: 0 } }).toArray()).map((d) => fromMongo<RevisionRecord>(d)),
    );
  }

  async getRevision(revision: number): Promise<RevisionRecord | undefined> {
    return guardUnavailable('read revision', async () => {
      const doc = await this.db.collection('revisions').findOne({ revision }, { projection: { _id: 0 } });
      return doc ? fromMongo<RevisionRecord>(doc) : undefined;
    });
  }

  async listAudit(options: { limit?: number; offset?: number } = {}): Promise<AuditEntry[]> {
    const { limit = 100, offset = 0 } = options;
    return guardUnavailable('read audit', async () =>
      (
        await this.db
          .collection('audit')
          .find({}, { sort: { revision: -1, index: -1 }, skip: offset, limit, projection: { _id: 0, index: 0 } })
          .toArray()
      ).map((d) => fromMongo<AuditEntry>(d)),
    );
  }

  async recordKeyUsage(lastUsed: Record<string, string>): Promise<void> {
    const entries = Object.entries(lastUsed);
    if (entries.length === 0) return;
    await guardUnavailable('record key usage', async () => {
      // $max on ISO-8601 strings: a later time wins, whichever node reports first.
      await this.db.collection<{ _id: string; at: string }>('key_usage').bulkWrite(
        entries.map(([id, at]) => ({ updateOne: { filter: { _id: id }, update: { $max: { at } }, upsert: true } })),
        { ordered: false },
      );
    });
  }

  async readKeyUsage(): Promise<Record<string, string>> {
    return guardUnavailable('read key usage', async () => {
      const docs = await this.db.collection<{ _id: string; at: string }>('key_usage').find({}).toArray();
      return Object.fromEntries(docs.map((d) => [d._id, d.at]));
    });
  }
}

function toDoc(item: { id: string }, pos: number): StoredDoc {
  return { _id: item.id, _pos: pos, ...(toMongo(item) as object) } as StoredDoc;
}

function fromDoc(doc: StoredDoc): unknown {
  const { _id: _i, _pos: _p, ...item } = doc;
  return fromMongo(item);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
