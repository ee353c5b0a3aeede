import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { MongoClient } from 'mongodb';
import { MongoStore } from '../../gateway/src/store/mongo-store.js';
import { fromMongo, toMongo } from '../../gateway/src/store/mongo-keys.js';
import { StoreUnavailableError } from '../../gateway/src/store/port.js';
import { storeContract } from './store-contract.js';
import { mongoAdapterContract } from './mongo-adapter-contract.js';

const url = process.env.MONGODB_URL;

if (!url && process.env.npm_lifecycle_event === 'test:mongo') {
  // `npm run test:mongo` exists to run the suite: without a server that is a failure, not a skip.
  test('npm run test:mongo needs MONGODB_URL (a replica set: see README "MongoDB in five minutes")', () => {
    assert.fail('set MONGODB_URL=mongodb://127.0.0.1:27017/?replicaSet=rs0');
  });
} else if (!url) {
  // A skipped suite must be visible: say so on the console and in the test's own name.
  process.stdout.write('\nMongoDB store contract: SKIPPED — set MONGODB_URL=mongodb://… to run it\n\n');
  test('MongoDB store contract: SKIPPED — set MONGODB_URL=mongodb://… to run it', () => {});
} else {
  mongoAdapterContract(url);
  storeContract('MongoDB store', async () => {
    // One throw-away database per test, so tests never see each other's data.
    const dbName = `switchboard_contract_${randomBytes(4).toString('hex')}`;
    return {
      open: async (options = {}) => {
        const store = new MongoStore(url, { dbName, pollMs: 200, ...options });
        await store.open();
        return store;
      },
      cleanup: async () => {
        const client = new MongoClient(url);
        try {
          await client.connect();
          await client.db(dbName).dropDatabase();
        } finally {
          await client.close();
        }
      },
    };
  });
}

// These need no server: they prove the parts of the adapter that decide behaviour when MongoDB is away.
test('an unreachable MongoDB is reported as StoreUnavailableError, promptly', async () => {
  const store = new MongoStore('mongodb://127.0.0.1:1/switchboard', { serverSelectionTimeoutMS: 300 });
  const started = Date.now();
  await assert.rejects(store.open(), (err: unknown) => err instanceof StoreUnavailableError);
  assert.ok(Date.now() - started < 10_000);
  await store.close();
});

test('keys MongoDB reserves ($-prefixed, dotted) round-trip through the stored form', async () => {
  const value = { $schema: 'x', properties: { 'a.b': { $ref: '#/x' }, '\uFF04odd': 1, '\uFF03mark': 2, plain: [{ 'c.d': null }] } };
  const stored = toMongo(value);
  const keys = JSON.stringify(stored).match(/"[^"]*":/g)!.join('');
  assert.ok(!/"\$|\./.test(keys.replace(/"#\/x"/, '')), `no reserved keys remain: ${keys}`);
  assert.deepEqual(fromMongo(stored), value);
});
