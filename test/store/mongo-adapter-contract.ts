import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { MongoClient, type Document } from 'mongodb';
import { MongoStore, SCHEMA_VERSION } from '../../gateway/src/store/mongo-store.js';
import type { CommitOptions, ConfigState } from '../../gateway/src/store/port.js';
import { StoreConfigurationError, StoreDuplicateError } from '../../gateway/src/store/store-errors.js';

/**
 * The MongoDB adapter's own contract, beside the store contract every store passes: each test
 * exposes one gap a line-by-line review of the adapter found (issue 12, item 7). Runs against
 * MONGODB_URL, a replica set; the fail-point test needs mongod's enableTestCommands=1 (the
 * README's one-command setup starts it so).
 */
export function mongoAdapterContract(url: string): void {
  /** The URL with one more option: after its query, else after its path, else after `/`. */
  const withOption = (option: string) => {
    if (url.includes('?')) return `${url}&${option}`;
    const hasPath = /^mongodb(\+srv)?:\/\/[^/]+\//.test(url);
    return `${url}${hasPath ? '' : '/'}?${option}`;
  };

  async function fixture(t: TestContext, storeUrl = url) {
    const dbName = `switchboard_contract_${randomBytes(4).toString('hex')}`;
    const client = new MongoClient(url);
    await client.connect();
    const stores: MongoStore[] = [];
    t.after(async () => {
      for (const s of stores) await s.close().catch(() => {});
      await client.db(dbName).dropDatabase().catch(() => {});
      await client.close();
    });
    const open = async () => {
      const store = new MongoStore(storeUrl, { dbName, pollMs: 200 });
      stores.push(store);
      await store.open();
      return store;
    };
    return { dbName, db: client.db(dbName), admin: client.db('admin'), open };
  }

  const empty = (revision: number): ConfigState => ({ revision, upstreams: [], routes: [], consumers: [], certificates: [], streams: [], keys: [], users: [], secrets: {} });
  const route = (name: string, extra: Record<string, unknown> = {}) => ({ id: `id-${name}`, version: 1, createdAt: 'c', updatedAt: 'u', name, methods: ['GET'], paths: [`/${name}`], upstream: 'u', ...extra });
  const options = (expected: number): CommitOptions => ({ expectedRevision: expected, audit: [{ at: new Date().toISOString(), actor: 'contract', action: 'test', kind: 'config', id: null, before: null, after: null }], keepRevision: true, actor: 'contract', action: 'test' });

  describe('MongoDB adapter', () => {
    test('a non-primary readPreference in the URL still commits and reads what it just wrote (reads and transactions go to the primary)', async (t) => {
      const f = await fixture(t, withOption('readPreference=secondaryPreferred'));
      const store = await f.open();
      for (let i = 0; i < 5; i++) {
        const next = { ...empty(i + 1), routes: [route(`r${i}`)] } as unknown as ConfigState;
        await store.commit(next, options(i));
        const read = await store.read();
        assert.equal(read.revision, i + 1);
        assert.deepEqual(read.routes.map((r) => r.name), [`r${i}`]);
      }
    });

    test('meta carries the schema version; a store of a newer schema is refused at open, naming both versions', async (t) => {
      const f = await fixture(t);
      await (await f.open()).close();
      assert.equal((await f.db.collection('meta').findOne({ _id: 'config' as never }))?.schemaVersion, SCHEMA_VERSION);
      await f.db.collection('meta').updateOne({ _id: 'config' as never }, { $set: { schemaVersion: SCHEMA_VERSION + 1 } });
      const store = new MongoStore(url, { dbName: f.dbName });
      await assert.rejects(store.open(), (err: unknown) => err instanceof StoreConfigurationError && err.message.includes(`schema version ${SCHEMA_VERSION + 1}`));
      // The failed open closed its client: no monitor keeps running for a store nobody uses.
      assert.equal((store as unknown as { client: { topology?: unknown } }).client.topology, undefined);
    });

    test('a schema-1 store (inline revision snapshot, writing marker) is migrated at open and its old revision stays readable', async (t) => {
      const f = await fixture(t);
      const legacyState = { upstreams: [], routes: [route('old', { schema: { properties: { '\uFF04ref': 1 } } })], consumers: [] };
      await f.db.collection('meta').insertOne({ _id: 'config' as never, revision: 1, secrets: {}, writing: null, writingSince: null });
      await f.db.collection('revisions').insertOne({ _id: 1 as never, revision: 1, at: 'then', actor: 'old', action: 'import', state: legacyState } as Document);
      const store = await f.open();
      const meta = await f.db.collection('meta').findOne({ _id: 'config' as never });
      assert.equal(meta?.schemaVersion, SCHEMA_VERSION);
      assert.equal('writing' in (meta ?? {}), false);
      const old = await store.getRevision(1);
      assert.equal(old?.state.routes[0]?.name, 'old');
      assert.deepEqual((old?.state.routes[0] as { schema?: unknown }).schema, { properties: { $ref: 1 } });
      assert.deepEqual(old?.state.certificates, []);
      assert.deepEqual((await store.listRevisionSummaries(10))[0]?.counts, { upstreams: 0, routes: 1, consumers: 0, certificates: 0, streams: 0 });
      await store.commit({ ...empty(2), routes: [route('new')] } as unknown as ConfigState, options(1));
      assert.equal((await store.getRevision(2))?.state.routes[0]?.name, 'new');
    });

    test('a revision of 50 000 routes (≈ 18 MiB as one document) commits, lists without loading its snapshot and reads back', { timeout: 300_000 }, async (t) => {
      const f = await fixture(t);
      const store = await f.open();
      const routes = Array.from({ length: 50_000 }, (_, i) => route(`route-${i}`, { docs: { summary: `Route ${i} with a description long enough to look like a real one`, tags: ['inference'] } }));
      await store.commit({ ...empty(1), routes } as unknown as ConfigState, options(0));
      const summaries = await store.listRevisionSummaries(50);
      assert.equal(summaries[0]?.counts.routes, 50_000);
      const chunks = await f.db.collection('revision_chunks').find({ revision: 1 }).toArray();
      assert.ok(chunks.length >= 1);
      const kept = await store.getRevision(1);
      assert.equal(kept?.state.routes.length, 50_000);
      assert.equal((await store.read()).routes.length, 50_000);
      // Later commits keep working (the cliff made every write after it fail).
      await store.commit({ ...empty(2), routes: routes.slice(0, 10) } as unknown as ConfigState, options(1));
      assert.equal((await store.read()).routes.length, 10);
    });

    test('a name the unique index refuses is StoreDuplicateError (the admin API\'s 409), and nothing changes', async (t) => {
      const f = await fixture(t);
      const store = await f.open();
      await store.commit({ ...empty(1), routes: [route('a')] } as unknown as ConfigState, options(0));
      const twins = { ...empty(2), routes: [route('a'), { ...route('a'), id: 'other-id' }] } as unknown as ConfigState;
      await assert.rejects(store.commit(twins, options(1)), (err: unknown) => err instanceof StoreDuplicateError && /name/.test(err.message));
      const after = await store.read();
      assert.equal(after.revision, 1);
      assert.deepEqual(after.routes.map((r) => r.id), ['id-a']);
    });

    test('_bsontype and NUL keys in a route\'s schema commit and read back', async (t) => {
      const f = await fixture(t);
      const store = await f.open();
      const schema = { properties: { _bsontype: { const: 'ObjectId' }, 'nul\0key': { type: 'string' }, $defs: { 'a.b': {} } } };
      await store.commit({ ...empty(1), routes: [route('s', { schema })] } as unknown as ConfigState, options(0));
      assert.deepEqual((await store.read()).routes[0]?.schema, schema);
      assert.deepEqual((await store.getRevision(1))?.state.routes[0]?.schema, schema);
    });

    test('last-use times of removed keys are pruned on the next commit', async (t) => {
      const f = await fixture(t);
      const store = await f.open();
      const key = (id: string) => ({ id, consumer: 'c1', prefix: id, hash: 'h', createdAt: 'c' });
      await store.commit({ ...empty(1), keys: [key('k1'), key('k2')] } as unknown as ConfigState, options(0));
      await store.recordKeyUsage({ k1: '2026-12-01T00:00:00.000Z', k2: '2026-12-01T00:00:01.000Z' });
      await store.commit({ ...empty(2), keys: [key('k2')] } as unknown as ConfigState, options(1));
      assert.deepEqual(Object.keys(await store.readKeyUsage()), ['k2']);
    });

    test('a commit whose acknowledgement is lost (write-concern error on commitTransaction) is answered from its stored commit id: applied', async (t) => {
      const f = await fixture(t);
      const store = await f.open();
      // MaxTimeMSExpired as a write-concern error: the commit is applied, the driver does not
      // retry it and the error escapes withTransaction (sessions.js, step 10.1).
      await f.admin.command({
        configureFailPoint: 'failCommand',
        mode: { times: 1 },
        data: { failCommands: ['commitTransaction'], writeConcernError: { code: 50, codeName: 'MaxTimeMSExpired', errmsg: 'injected by the contract test' } },
      });
      t.after(() => f.admin.command({ configureFailPoint: 'failCommand', mode: 'off' }).catch(() => {}));
      const state = await store.commit({ ...empty(1), routes: [route('confirmed')] } as unknown as ConfigState, options(0));
      assert.equal(state.revision, 1);
      const read = await store.read();
      assert.equal(read.revision, 1);
      assert.deepEqual(read.routes.map((r) => r.name), ['confirmed']);
    });
  });
}
