import { RevisionListeners } from './revision-listeners.js';
import { randomUUID } from 'node:crypto';
import { Binary, BSON, MongoClient, ReadPreference, type ChangeStream, type ClientSession, type Collection, type Db, type Document } from 'mongodb';
import { CONFIG_KINDS } from '../../../spec/config.js';
import { duplicateKeyOf, guardUnavailable, isUnavailable, provesNotApplied } from './mongo-errors.js';
import { fromMongo, toMongo } from './mongo-keys.js';
import { mongoSettings, type MongoSettings } from './mongo-settings.js';
import {
  revisionState,
  RevisionConflictError,
  StoreUnavailableError,
  withAllCollections,
  type AuditEntry,
  type CommitOptions,
  type ConfigState,
  type ConfigStore,
  type RevisionRecord,
  type RevisionSummary,
} from './port.js';
import { decodeSnapshot, encodeSnapshot } from './revision-snapshot.js';
import { CommitOutcomeUnknownError, StoreConfigurationError, StoreDuplicateError, StoreItemTooLargeError } from './store-errors.js';

export interface MongoStoreOptions {
  /** Database name; default: the one in the URL, else "switchboard". */
  dbName?: string;
  keepRevisions?: number;
  keepAudit?: number;
  /** Revision polling interval when change streams are unavailable. */
  pollMs?: number;
  /** How long an operation waits for a reachable server; default: the URL's, else 15 s (see mongo-settings.ts). */
  serverSelectionTimeoutMS?: number;
}

/** The configuration kinds, one collection each; the field that must be unique in each. */
const KINDS = { upstreams: 'name', routes: 'name', consumers: 'name', certificates: 'name', streams: 'name', users: 'email', keys: 'id' } as const;
type Kind = keyof typeof KINDS;
const KIND_NAMES = Object.keys(KINDS) as Kind[];

/**
 * The layout this build writes, kept in `meta.schemaVersion` (README "MongoDB in five
 * minutes", Migrations). 1: revision snapshots inline in one document each, a `writing` marker
 * for standalone servers. 2: snapshots as gzipped chunks in `revision_chunks`, recent commit
 * ids on meta, replica sets only. Opening a 1 store migrates it in place (adds fields; old
 * revisions stay readable); a store written by a newer build is refused.
 */
export const SCHEMA_VERSION = 2;

interface MetaDocument {
  _id: 'config';
  revision: number;
  secrets: Record<string, string>;
  schemaVersion?: number;
  /** Ids of the last commits, to tell whether an unconfirmed commit applied (see resolveOutcome). */
  commits?: string[];
  /** Written by schema 1 on standalone servers; dropped by the migration. */
  writing?: string | null;
}

type StoredDoc = { _id: string; _pos: number; [field: string]: unknown };

/** How many commit ids meta remembers: far more than can be in doubt at once. */
const RECENT_COMMITS = 32;

/**
 * MongoDB refuses documents over 16 MiB of BSON; an item is refused below that with a typed
 * error naming it, leaving room for the document's own fields.
 */
const MAX_ITEM_BYTES = 16 * 2 ** 20 - 64 * 1024;

const MAJORITY = { level: 'majority' } as const;

/**
 * The MongoDB store. One collection per kind (unique index on the name), a `meta` document
 * holding the revision and server secrets, `revisions` (+ `revision_chunks`) and `audit`
 * collections, and key last-use times in `key_usage`.
 *
 * A replica set (or sharded cluster) is required: a commit is one transaction — the
 * compare-and-swap on the meta revision (which serialises writers across every node), every
 * collection write, the revision snapshot and the audit entries — all or nothing, invisible
 * until committed. A standalone server has no transactions; rather than writing a revision in
 * pieces that a crash can leave half applied, `open()` refuses it and says how to run a
 * one-member replica set.
 *
 * Reads and transactions go to the primary whatever readPreference the URL gives (a transaction
 * must, and a secondary may lag behind a revision the node was just told about); `read()` reads
 * meta and every collection in one snapshot session, so it sees exactly one revision.
 */
export class MongoStore implements ConfigStore {
  readonly kind = 'mongodb' as const;
  private readonly client: MongoClient;
  private readonly settings: MongoSettings;
  private readonly keepRevisions: number;
  private readonly keepAudit: number;
  private readonly pollMs: number;
  private db!: Db;
  private readonly listeners = new RevisionListeners();
  private changeStream: ChangeStream | undefined;
  private poller: NodeJS.Timeout | undefined;
  private checking = false;
  private closed = false;

  constructor(url: string, options: MongoStoreOptions = {}) {
    this.settings = mongoSettings(url, { dbName: options.dbName, serverSelectionTimeoutMS: options.serverSelectionTimeoutMS });
    this.client = new MongoClient(url, this.settings.clientOptions);
    this.keepRevisions = options.keepRevisions ?? 50;
    this.keepAudit = options.keepAudit ?? 10_000;
    this.pollMs = options.pollMs ?? 1000;
  }

  /** The database the store uses (the URL's, else "switchboard"). */
  get dbName(): string {
    return this.settings.dbName;
  }

  private meta(): Collection<MetaDocument> {
    return this.db.collection<MetaDocument>('meta');
  }
  private items(kind: Kind): Collection<StoredDoc> {
    return this.db.collection<StoredDoc>(kind);
  }

  async open(): Promise<void> {
    try {
      await guardUnavailable('connect', async () => {
        await this.client.connect();
        this.db = this.client.db(this.settings.dbName, { readPreference: ReadPreference.primary });
        const hello = await this.db.command({ hello: 1 }, { readPreference: ReadPreference.primary });
        checkDeployment(hello, this.settings);
        await Promise.all([
          ...KIND_NAMES.map((kind) => this.items(kind).createIndex({ [KINDS[kind]]: 1 }, { unique: true, name: `unique_${KINDS[kind]}` })),
          this.items('keys').createIndex({ consumer: 1 }),
          this.db.collection('revisions').createIndex({ revision: -1 }, { unique: true }),
          this.db.collection('revision_chunks').createIndex({ revision: 1, n: 1 }, { unique: true }),
          this.db.collection('audit').createIndex({ revision: -1, index: -1 }),
        ]);
        await this.meta().updateOne({ _id: 'config' }, { $setOnInsert: { revision: 0, secrets: {}, schemaVersion: SCHEMA_VERSION, commits: [] } }, { upsert: true });
        await this.migrate();
      });
    } catch (err) {
      // A failed open leaves no client behind (its monitors would keep the process alive).
      await this.client.close().catch(() => {});
      if (notInitiated(err)) {
        throw new StoreConfigurationError(
          'MongoDB at STORE_URL runs with --replSet but its replica set is not initiated (no member can be primary): run rs.initiate() in mongosh (docker/compose.yaml\'s mongo-init does), then start again',
        );
      }
      throw err;
    }
  }

  private async migrate(): Promise<void> {
    const meta = await this.meta().findOne({ _id: 'config' }, { readConcern: MAJORITY });
    const version = meta?.schemaVersion ?? 1;
    if (version > SCHEMA_VERSION) {
      throw new StoreConfigurationError(
        `the MongoDB store "${this.settings.dbName}" has schema version ${version}, written by a newer Switchboard; this build reads up to ${SCHEMA_VERSION}: upgrade it, or point STORE_URL at another database`,
      );
    }
    if (version < SCHEMA_VERSION) {
      // 1 → 2: only adds fields; revisions written inline by schema 1 stay readable as they are.
      await this.meta().updateOne({ _id: 'config', schemaVersion: meta?.schemaVersion ?? { $exists: false } } as never, {
        $set: { schemaVersion: SCHEMA_VERSION, commits: [] },
        $unset: { writing: '', writingSince: '' },
      });
    }
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
      // One snapshot: the first read fixes the cluster time every later one reads at, so meta
      // and the collections are one revision, with no re-read loop.
      const session = this.client.startSession({ snapshot: true });
      try {
        const meta = await this.meta().findOne({ _id: 'config' }, { session });
        if (!meta) throw new StoreUnavailableError('the MongoDB store is not initialised (meta document missing)');
        // One at a time: a session is not for concurrent operations (the driver's advice).
        const lists: StoredDoc[][] = [];
        for (const kind of KIND_NAMES) lists.push(await this.items(kind).find({}, { sort: { _pos: 1 }, session }).toArray());
        const state = { revision: meta.revision, secrets: { ...(meta.secrets ?? {}) } } as ConfigState;
        KIND_NAMES.forEach((kind, i) => {
          (state as unknown as Record<Kind, unknown[]>)[kind] = lists[i]!.map(fromDoc);
        });
        return state;
      } finally {
        await session.endSession().catch(() => {});
      }
    });
  }

  async revision(): Promise<number> {
    return guardUnavailable('read revision', async () => (await this.meta().findOne({ _id: 'config' }, { projection: { revision: 1 }, readConcern: MAJORITY }))?.revision ?? 0);
  }

  async commit(next: ConfigState, options: CommitOptions): Promise<ConfigState> {
    const state: ConfigState = { ...next, revision: options.expectedRevision + 1 };
    const docs = KIND_NAMES.map((kind) => (state as unknown as Record<Kind, Array<{ id: string }>>)[kind].map((item, pos) => toDoc(item, pos)));
    KIND_NAMES.forEach((kind, i) => {
      for (const doc of docs[i]!) {
        const bytes = BSON.calculateObjectSize(doc);
        if (bytes > MAX_ITEM_BYTES) throw new StoreItemTooLargeError(kind, String(doc[KINDS[kind]] ?? doc._id), bytes, MAX_ITEM_BYTES);
      }
    });
    const snapshot = options.keepRevision ? await encodeSnapshot(revisionState(state)) : undefined;
    const commitId = randomUUID();
    // Set once the transaction's writes are all done: an error after that came from the commit
    // itself, whose outcome the error does not tell (it may have applied).
    let written = false;
    const session = this.client.startSession();
    try {
      await session.withTransaction(
        async (s) => {
          written = false;
          await this.writeCommit(state, docs, options, s, commitId, snapshot);
          written = true;
        },
        { readConcern: { level: 'snapshot' }, readPreference: ReadPreference.primary },
      );
    } catch (err) {
      if (err instanceof RevisionConflictError) throw err;
      const duplicate = duplicateKeyOf(err);
      if (duplicate) throw new StoreDuplicateError(duplicate.collection, duplicate.key);
      if (written && !provesNotApplied(err)) await this.resolveOutcome(commitId, options.expectedRevision, err);
      else if (isUnavailable(err)) throw new StoreUnavailableError(`MongoDB unavailable during commit: ${(err as Error).message}`, { cause: err });
      else throw err;
    } finally {
      await session.endSession().catch(() => {});
    }
    void this.check();
    return state;
  }

  /**
   * A commit whose acknowledgement was lost (failover, write-concern timeout, the primary out of
   * reach): ask the store whether it applied. The question is a majority write to meta: once it
   * is acknowledged, the earlier commit is either majority-committed before it (its id is in
   * `commits`) or can no longer commit (a transaction still open on meta conflicts with this
   * write; one from a deposed primary is rolled back). Returns when it applied; throws when it
   * did not (store unavailable, or a conflict if another writer moved the revision) and
   * CommitOutcomeUnknownError when even the question gets no answer.
   */
  private async resolveOutcome(commitId: string, expected: number, cause: unknown): Promise<void> {
    let meta: MetaDocument | null;
    try {
      meta = await this.meta().findOneAndUpdate(
        { _id: 'config' },
        { $set: { outcomeCheckedAt: new Date() } } as never,
        { returnDocument: 'after', writeConcern: { w: 'majority', wtimeoutMS: 10_000 } },
      );
    } catch (askErr) {
      throw new CommitOutcomeUnknownError(
        `MongoDB did not confirm the commit of revision ${expected + 1} (${(cause as Error).message}) and could not be asked afterwards (${(askErr as Error).message}); it may have been applied`,
        { cause },
      );
    }
    if (meta?.commits?.includes(commitId)) return;
    if (meta && meta.revision !== expected) throw new RevisionConflictError(expected, meta.revision);
    throw new StoreUnavailableError(`MongoDB unavailable during commit (not applied): ${(cause as Error).message}`, { cause });
  }

  private async writeCommit(
    state: ConfigState,
    docs: StoredDoc[][],
    options: CommitOptions,
    session: ClientSession,
    commitId: string,
    snapshot: Buffer[] | undefined,
  ): Promise<void> {
    const expected = options.expectedRevision;
    const claimed = await this.meta().updateOne(
      { _id: 'config', revision: expected },
      { $set: { revision: state.revision, secrets: state.secrets }, $push: { commits: { $each: [commitId], $slice: -RECENT_COMMITS } } },
      { session },
    );
    if (claimed.matchedCount === 0) {
      const actual = (await this.meta().findOne({ _id: 'config' }, { projection: { revision: 1 }, session }))?.revision ?? -1;
      throw new RevisionConflictError(expected, actual);
    }
    for (const [i, kind] of KIND_NAMES.entries()) await this.writeKind(kind, docs[i]!, session);
    const at = new Date().toISOString();
    if (snapshot) {
      const counts = Object.fromEntries(CONFIG_KINDS.map((k) => [k, state[k]?.length ?? 0]));
      await this.db
        .collection('revisions')
        .insertOne({ _id: state.revision as never, revision: state.revision, at, actor: options.actor, action: options.action, counts, chunks: snapshot.length } as Document, { session });
      await this.db
        .collection('revision_chunks')
        .insertMany(snapshot.map((data, n) => ({ _id: `${state.revision}.${n}` as never, revision: state.revision, n, data: new Binary(data) })) as Document[], { session });
      const oldest = await this.db.collection('revisions').find({}, { projection: { revision: 1 }, sort: { revision: -1 }, skip: this.keepRevisions, limit: 1, session }).toArray();
      if (oldest[0]) {
        await this.db.collection('revisions').deleteMany({ revision: { $lte: oldest[0].revision } }, { session });
        await this.db.collection('revision_chunks').deleteMany({ revision: { $lte: oldest[0].revision } }, { session });
      }
    }
    if (options.audit.length) {
      await this.db.collection('audit').insertMany(
        options.audit.map((a, index) => toMongo({ ...a, revision: state.revision, index }) as Document),
        { session },
      );
      const oldest = await this.db.collection('audit').find({}, { projection: { revision: 1 }, sort: { revision: -1, index: -1 }, skip: this.keepAudit, limit: 1, session }).toArray();
      if (oldest[0]) await this.db.collection('audit').deleteMany({ revision: { $lt: oldest[0].revision } }, { session });
    }
    // Last-use times of keys that no longer exist go with them (else key_usage only grows).
    await this.db.collection<{ _id: string }>('key_usage').deleteMany({ _id: { $nin: state.keys.map((k) => k.id) } }, { session });
  }

  /**
   * Make one kind's collection equal to `wanted`: delete what went or changed, insert what is
   * new or changed. Deleting changed documents before inserting them keeps the unique name
   * index satisfied even when two items swap names in one commit.
   */
  private async writeKind(kind: Kind, wanted: StoredDoc[], session: ClientSession): Promise<void> {
    const collection = this.items(kind);
    const existing = new Map((await collection.find({}, { session }).toArray()).map((d) => [d._id, JSON.stringify(d)] as const));
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
    this.openChangeStream();
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
      const meta = await this.meta().findOne({ _id: 'config' }, { projection: { revision: 1 }, readConcern: MAJORITY });
      if (meta) this.listeners.tell(meta.revision);
    } catch {
      // Unreachable: the node keeps its configuration; the next tick tries again.
    } finally {
      this.checking = false;
    }
  }

  /** Newest first, snapshots included (a node falling back to an older revision needs them). */
  async listRevisions(limit = 50): Promise<RevisionRecord[]> {
    return guardUnavailable('list revisions', async () => {
      const docs = await this.db.collection('revisions').find({}, { sort: { revision: -1 }, limit, projection: { _id: 0 }, readConcern: MAJORITY }).toArray();
      const records = await Promise.all(docs.map((doc) => this.recordOf(doc)));
      return records.filter((r): r is RevisionRecord => r !== undefined);
    });
  }

  /** Newest first, without the snapshots: what the admin API's history list shows. */
  async listRevisionSummaries(limit = 50): Promise<RevisionSummary[]> {
    return guardUnavailable('list revisions', async () => {
      const sizes = Object.fromEntries(CONFIG_KINDS.map((k) => [k, { $size: { $ifNull: [`$state.${k}`, []] } }]));
      const docs = await this.db
        .collection('revisions')
        .aggregate([{ $sort: { revision: -1 } }, { $limit: limit }, { $project: { _id: 0, revision: 1, at: 1, actor: 1, action: 1, counts: { $ifNull: ['$counts', sizes] } } }], {
          readConcern: MAJORITY,
        })
        .toArray();
      return docs as RevisionSummary[];
    });
  }

  async getRevision(revision: number): Promise<RevisionRecord | undefined> {
    return guardUnavailable('read revision', async () => {
      const doc = await this.db.collection('revisions').findOne({ revision }, { projection: { _id: 0 }, readConcern: MAJORITY });
      return doc ? this.recordOf(doc) : undefined;
    });
  }

  /** A revision document as a record: schema 2 reads its chunks, schema 1 holds its state inline. */
  private async recordOf(doc: Document): Promise<RevisionRecord | undefined> {
    const { revision, at, actor, action } = doc as RevisionRecord;
    if (doc.state) return { revision, at, actor, action, state: withAllCollections(fromMongo<RevisionRecord['state']>(doc.state)) };
    const chunks = await this.db.collection('revision_chunks').find({ revision }, { sort: { n: 1 }, readConcern: MAJORITY }).toArray();
    // Pruned between the two reads: the revision is no longer kept.
    if (chunks.length !== doc.chunks) return undefined;
    const state = await decodeSnapshot(chunks.map((c) => (c.data as Binary).buffer.subarray(0, (c.data as Binary).position)));
    return { revision, at, actor, action, state: withAllCollections(state) };
  }

  async listAudit(options: { limit?: number; offset?: number } = {}): Promise<AuditEntry[]> {
    const { limit = 100, offset = 0 } = options;
    return guardUnavailable('read audit', async () =>
      (
        await this.db
          .collection('audit')
          .find({}, { sort: { revision: -1, index: -1 }, skip: offset, limit, projection: { _id: 0, index: 0 }, readConcern: MAJORITY })
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
      const docs = await this.db.collection<{ _id: string; at: string }>('key_usage').find({}, { readConcern: MAJORITY }).toArray();
      return Object.fromEntries(docs.map((d) => [d._id, d.at]));
    });
  }
}

/**
 * Refuse, at start, a deployment the store cannot commit on: a standalone server (no
 * transactions) or a directConnection to a member that is not the primary (every write would
 * answer NotWritablePrimary, an endless 503).
 */
export function checkDeployment(hello: Document, settings: Pick<MongoSettings, 'directConnection'>): void {
  if (hello.msg === 'isdbgrid') return; // mongos: transactions since MongoDB 4.2
  if (!hello.setName) {
    throw new StoreConfigurationError(
      'MongoDB at STORE_URL is a standalone server: configuration commits need transactions, which only a replica set has. ' +
        'Run it as a replica set (one member is enough: mongod --replSet rs0, then rs.initiate() in mongosh) and add replicaSet=rs0 to STORE_URL',
    );
  }
  if (!hello.isWritablePrimary) {
    const role = hello.secondary ? 'a secondary' : hello.arbiterOnly ? 'an arbiter' : 'not the primary';
    throw new StoreConfigurationError(
      `STORE_URL connects directly${settings.directConnection ? ' (directConnection=true)' : ''} to ${hello.me ?? 'a member'}, ${role} of replica set "${hello.setName}": ` +
        `the store writes on the primary. Remove directConnection=true and name the set (replicaSet=${hello.setName}) so the driver finds the primary`,
    );
  }
}

/** Server selection failed because every member answers as an uninitiated replica-set member (RSGhost). */
export function notInitiated(err: unknown): boolean {
  const servers = ((err as { cause?: unknown }).cause ?? err) as { reason?: { servers?: Map<string, { type: string }> } };
  const described = [...(servers.reason?.servers?.values() ?? [])];
  return described.length > 0 && described.every((server) => server.type === 'RSGhost');
}

function toDoc(item: { id: string }, pos: number): StoredDoc {
  return { _id: item.id, _pos: pos, ...(toMongo(item) as object) } as StoredDoc;
}

function fromDoc(doc: StoredDoc): unknown {
  const { _id: _i, _pos: _p, ...item } = doc;
  return fromMongo(item);
}

