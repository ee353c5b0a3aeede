import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BSON, MongoClient, MongoServerError, MongoServerSelectionError } from 'mongodb';
import { duplicateKeyOf } from '../../gateway/src/store/mongo-errors.js';
import { fromMongo, toMongo } from '../../gateway/src/store/mongo-keys.js';
import { DEFAULT_DB_NAME, mongoSettings } from '../../gateway/src/store/mongo-settings.js';
import { checkDeployment, MongoStore, notInitiated } from '../../gateway/src/store/mongo-store.js';
import { StoreUnavailableError } from '../../gateway/src/store/port.js';
import type { ConfigState } from '../../gateway/src/store/port.js';
import { decodeSnapshot, encodeSnapshot, SNAPSHOT_CHUNK_BYTES } from '../../gateway/src/store/revision-snapshot.js';
import { StoreConfigurationError, StoreItemTooLargeError } from '../../gateway/src/store/store-errors.js';

// What the MongoDB adapter decides without a server: URL options, deployment checks, key
// encoding, snapshot chunks and size limits. The contract suite (mongo-store.test.ts) runs the
// rest against a real replica set when MONGODB_URL is set.

/** The options the driver ends up with: our settings passed as the store passes them. */
function effective(url: string) {
  const settings = mongoSettings(url);
  return { settings, options: new MongoClient(url, settings.clientOptions).options };
}

test('with no database in the URL the store uses "switchboard", not the driver\'s "test"', () => {
  assert.equal(DEFAULT_DB_NAME, 'switchboard');
  for (const url of ['mongodb://h1:27017', 'mongodb://h1:27017/', 'mongodb://u:p%40w@h1:27017,h2:27017/?replicaSet=rs0', 'mongodb+srv://cluster.example.net/?retryWrites=true']) {
    assert.equal(mongoSettings(url).dbName, 'switchboard', url);
  }
  assert.equal(new MongoClient('mongodb://h1:27017/').options.dbName, 'test', 'the driver alone would write to "test"');
  assert.equal(mongoSettings('mongodb://h1:27017,h2:27017/gateway%2Dprod?replicaSet=rs0').dbName, 'gateway-prod');
  assert.equal(mongoSettings('mongodb://h1/gateway', { dbName: 'contract_1' }).dbName, 'contract_1');
});

test('options the URL sets are not overridden by the store\'s defaults', () => {
  const { settings, options } = effective('mongodb://h1:27017/db?serverSelectionTimeoutMS=2500&retryWrites=false&w=1&wtimeoutMS=700&socketTimeoutMS=5000&retryReads=false');
  assert.equal(options.serverSelectionTimeoutMS, 2500);
  assert.equal(options.retryWrites, false, 'DocumentDB needs retryWrites=false');
  assert.equal(options.retryReads, false);
  assert.equal(options.writeConcern?.w, 1);
  assert.equal(options.writeConcern?.wtimeoutMS, 700);
  assert.equal(options.socketTimeoutMS, 5000);
  for (const key of ['serverSelectionTimeoutMS', 'retryWrites', 'w', 'wtimeoutMS', 'socketTimeoutMS', 'retryReads']) assert.equal(key in settings.clientOptions, false, `${key} not passed in code`);
  // URI option names are case-insensitive, for the driver and for us.
  assert.equal(effective('mongodb://h1/db?RETRYWRITES=false').options.retryWrites, false);
  // A w without wtimeoutMS keeps the URL's w and gains the time limit.
  const w2 = effective('mongodb://h1/db?w=2').options.writeConcern;
  assert.equal(w2?.w, 2);
  assert.equal(w2?.wtimeoutMS, 10_000);
});

test('without URL options, writes are majority with a 10 s write-concern limit and server selection waits out an election', () => {
  const { options } = effective('mongodb://h1:27017,h2:27017,h3:27017/switchboard?replicaSet=rs0');
  assert.equal(options.writeConcern?.w, 'majority');
  assert.equal(options.writeConcern?.wtimeoutMS, 10_000, 'a majority that cannot be reached fails, it does not hang');
  assert.equal(options.serverSelectionTimeoutMS, 15_000, 'longer than electionTimeoutMillis (10 s)');
  assert.equal(options.retryWrites, true);
  assert.equal(options.socketTimeoutMS, 60_000);
  assert.equal(mongoSettings('mongodb://h1/x', { serverSelectionTimeoutMS: 300 }).clientOptions.serverSelectionTimeoutMS, 300, 'an explicit option of the caller wins');
});

test('a standalone server is refused at start, saying how to run a one-member replica set', () => {
  const standalone = { isWritablePrimary: true, maxWireVersion: 21, ok: 1 };
  assert.throws(() => checkDeployment(standalone, { directConnection: false }), (err: unknown) => {
    assert.ok(err instanceof StoreConfigurationError);
    assert.match(err.message, /standalone/);
    assert.match(err.message, /--replSet rs0/);
    assert.match(err.message, /rs\.initiate\(\)/);
    return true;
  });
});

test('a directConnection to a secondary is a configuration error naming the member and the set, not an endless 503', () => {
  const secondary = { setName: 'rs0', isWritablePrimary: false, secondary: true, me: 'mongo2:27017', ok: 1 };
  assert.throws(() => checkDeployment(secondary, { directConnection: true }), (err: unknown) => {
    assert.ok(err instanceof StoreConfigurationError);
    assert.match(err.message, /directConnection=true/);
    assert.match(err.message, /mongo2:27017, a secondary of replica set "rs0"/);
    assert.match(err.message, /replicaSet=rs0/);
    return true;
  });
  assert.equal(mongoSettings('mongodb://mongo2:27017/?directConnection=true').directConnection, true);
  // A primary, and a mongos, are fine.
  checkDeployment({ setName: 'rs0', isWritablePrimary: true, ok: 1 }, { directConnection: true });
  checkDeployment({ msg: 'isdbgrid', isWritablePrimary: true, ok: 1 }, { directConnection: false });
});

test('_bsontype and NUL keys in a route\'s schema are encoded like $ and ., so BSON can hold them', () => {
  const schema = {
    type: 'object',
    properties: { _bsontype: { type: 'string', const: 'ObjectId' }, 'nul\0key': { type: 'number' }, '\uFF05odd': { $ref: '#/x' }, '%': 1, __proto__x: 2 },
  };
  const withProto = JSON.parse('{"__proto__": {"type": "string"}, "a.b": 1}') as Record<string, unknown>;
  const value = { schema, withProto };
  // The serializer itself refuses the raw value: the encoding is what makes it storable.
  assert.throws(() => BSON.serialize({ schema: { _bsontype: 'ObjectId', id: 1 } }));
  assert.throws(() => BSON.serialize({ ['nul\0key']: 1 }));
  const stored = toMongo(value);
  const bytes = BSON.serialize(stored as never);
  const back = fromMongo<typeof value>(BSON.deserialize(bytes));
  assert.deepEqual(back, value);
  assert.equal(Object.hasOwn(back.withProto, '__proto__'), true, 'a JSON "__proto__" key is kept as data');
});

test('a revision snapshot of 50 000 routes (≈ 18 MiB of BSON) is chunked below MongoDB\'s 16 MiB document limit and reads back whole', async () => {
  const routes = Array.from({ length: 50_000 }, (_, i) => ({
    id: `r${i}`,
    version: 1,
    createdAt: '2026-12-01T00:00:00.000Z',
    updatedAt: '2026-12-01T00:00:00.000Z',
    name: `route-${i}`,
    methods: ['GET', 'POST'],
    paths: [`/v1/tenant-${i}/*`],
    upstream: `pool-${i % 50}`,
    timeoutMs: 60_000,
    docs: { summary: `Route ${i} with a description long enough to look like a real one`, tags: ['inference'] },
  }));
  const state = { upstreams: [], routes, consumers: [], certificates: [], streams: [] } as never;
  const bson = BSON.calculateObjectSize({ state });
  assert.ok(bson > 16 * 2 ** 20, `as one document it would be ${(bson / 2 ** 20).toFixed(1)} MiB, over the limit`);
  const chunks = await encodeSnapshot(state, SNAPSHOT_CHUNK_BYTES);
  for (const chunk of chunks) assert.ok(chunk.length <= SNAPSHOT_CHUNK_BYTES);
  const total = chunks.reduce((n, c) => n + c.length, 0);
  assert.ok(total < bson / 5, `gzipped ${total} bytes against ${bson} of BSON`);
  assert.deepEqual(await decodeSnapshot(chunks), state);
  // Several chunks when they are small: the split and the join are exercised too.
  const small = await encodeSnapshot(state, 64 * 1024);
  assert.ok(small.length > 1);
  assert.deepEqual(await decodeSnapshot(small), state);
});

test('an item over 16 MiB is refused with a typed error naming it, before anything is written', async () => {
  const store = new MongoStore('mongodb://127.0.0.1:1/never-contacted', { serverSelectionTimeoutMS: 200 });
  const huge = { id: 'r1', version: 1, createdAt: '', updatedAt: '', name: 'huge-schema', methods: ['POST'], paths: ['/x'], upstream: 'u', schema: { description: 'x'.repeat(17 * 2 ** 20) } };
  const state = { revision: 1, upstreams: [], routes: [huge], consumers: [], certificates: [], streams: [], keys: [], users: [], secrets: {} } as unknown as ConfigState;
  await assert.rejects(store.commit(state, { expectedRevision: 0, audit: [], keepRevision: true, actor: 't', action: 'test' }), (err: unknown) => {
    assert.ok(err instanceof StoreItemTooLargeError);
    assert.match(err.message, /routes "huge-schema" is 17\.0 MiB stored, over the store's limit/);
    return true;
  });
  await store.close();
});

test('a replica set never initiated is told apart from one that is down (every member answers as RSGhost)', () => {
  const selection = (types: string[]) =>
    new MongoServerSelectionError('Server selection timed out after 15000 ms', { servers: new Map(types.map((type, i) => [`m${i}:27017`, { type }])) } as never);
  assert.equal(notInitiated(new StoreUnavailableError('MongoDB unavailable during connect', { cause: selection(['RSGhost']) })), true);
  assert.equal(notInitiated(selection(['RSGhost', 'RSGhost'])), true);
  assert.equal(notInitiated(selection(['Unknown'])), false, 'unreachable is an outage, not a configuration error');
  assert.equal(notInitiated(selection(['RSGhost', 'Unknown'])), false);
});

test('a duplicate-key error names the collection and the key, for the 409 it becomes', () => {
  const err = new MongoServerError({ message: 'E11000 duplicate key error collection: switchboard.routes index: unique_name dup key: { name: "chat" }', code: 11000, keyValue: { name: 'chat' } });
  assert.deepEqual(duplicateKeyOf(err), { collection: 'routes', index: 'unique_name', key: 'name "chat"' });
  const bulk = new MongoServerError({ message: 'E11000 duplicate key error collection: sb.users index: unique_email dup key: { email: "a@b.c" }', code: 11000 });
  assert.deepEqual(duplicateKeyOf(bulk), { collection: 'users', index: 'unique_email', key: 'email: "a@b.c"' });
  assert.equal(duplicateKeyOf(new MongoServerError({ message: 'other', code: 112 })), undefined);
});
