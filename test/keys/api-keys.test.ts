import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import { registerConsumerKeyRoutes } from '../../gateway/src/admin/consumer-keys-routes.js';
import { installProblemHandler } from '../../gateway/src/admin/problem-handler.js';
import { PEPPER_SECRET } from '../../gateway/src/keys/api-key.js';
import { issueKey, listKeys, revokeKey, rotateKey } from '../../gateway/src/keys/key-service.js';
import type { KeyUsageBatch } from '../../gateway/src/keys/key-usage.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, caughtUp, sansInstance } from '../plugins/fixtures.js';

let upstream: EchoUpstream;
let gw: TestGateway;

const config = () => ({
  upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
  routes: [
    { name: 'chat', methods: ['GET', 'POST'], paths: ['/v1/*'], upstream: 'echo', auth: 'api-key' },
    { name: 'open', methods: ['GET'], paths: ['/open'], upstream: 'echo', auth: 'none' },
  ],
  consumers: [{ name: 'acme' }, { name: 'globex' }],
});

before(async () => {
  upstream = await startEchoUpstream('echo');
  gw = await startGateway(config());
});
after(async () => {
  await gw.close();
  await upstream.close();
});

async function newKey(consumer = 'acme', options: { expiresAt?: string } = {}): Promise<string> {
  const issued = await issueKey(gw.store, consumer, { actor: 'test', ...options });
  await caughtUp(gw);
  return issued.key;
}

const withKey = (key: string) => ({ headers: { 'x-api-key': key } });
const withBearer = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });

describe('API keys', () => {
  test('an issued key has the sb_live_ shape and its prefix, and the store keeps only an HMAC', async () => {
    const issued = await issueKey(gw.store, 'acme', { actor: 'test' });
    assert.match(issued.key, /^sb_live_[0-9A-Za-z]{43}$/);
    assert.ok(issued.key.startsWith(issued.prefix));
    assert.equal(issued.expiresAt, null);
    const state = await gw.store.read();
    assert.ok(state.secrets[PEPPER_SECRET], 'a pepper was generated with the first key');
    const record = state.keys.find((k) => k.id === issued.id)!;
    assert.notEqual(record.hash, issued.key);
    const file = await readFile(gw.storePath, 'utf8');
    assert.ok(!file.includes(issued.key), 'the plaintext key is nowhere in the store');
  });

  test('a key works in x-api-key and in Authorization: Bearer, and neither header reaches the upstream', async () => {
    const key = await newKey();
    for (const init of [withKey(key), withBearer(key)]) {
      const answer = await call(`${gw.url}/v1/models`, init);
      assert.equal(answer.status, 200, answer.text);
      const seen = answer.body.headers as Record<string, string>;
      assert.equal(seen['x-api-key'], undefined);
      assert.equal(seen['authorization'], undefined);
      assert.equal(seen['x-consumer-name'], 'acme');
      assert.ok(!JSON.stringify(seen).includes(key));
    }
  });

  test('a client cannot pose as a consumer with its own x-consumer-name', async () => {
    const key = await newKey('globex');
    const answer = await call(`${gw.url}/v1/models`, { headers: { 'x-api-key': key, 'x-consumer-name': 'acme' } });
    assert.equal(answer.body.headers['x-consumer-name'], 'globex');
    const open = await call(`${gw.url}/open`, { headers: { 'x-consumer-name': 'acme' } });
    assert.equal(open.body.headers['x-consumer-name'], undefined);
  });

  test('missing, unknown, malformed, revoked and expired keys all get the same 401', async () => {
    const revoked = await newKey();
    const expiring = await newKey('acme', { expiresAt: new Date(Date.now() + 1500).toISOString() });
    assert.equal((await call(`${gw.url}/v1/models`, withKey(expiring))).status, 200);
    const list = await listKeys(gw.store, 'acme');
    await revokeKey(gw.store, 'acme', list.find((k) => revoked.startsWith(k.prefix))!.id, { actor: 'test' });
    await caughtUp(gw);
    await sleep(1600);
    const unknown = 'sb_live_' + 'A'.repeat(43);
    const answers = await Promise.all(
      [{}, withKey(unknown), withKey('nonsense'), withBearer('sb_live_short'), withKey(revoked), withKey(expiring), withBearer(expiring)].map((init) =>
        call(`${gw.url}/v1/models`, init),
      ),
    );
    for (const a of answers) {
      assert.equal(a.status, 401);
      assert.match(a.headers.get('content-type') ?? '', /^application\/problem\+json/);
      assert.deepEqual(sansInstance(a.body), sansInstance(answers[0]!.body));
    }
    assert.equal(upstream.received.filter((r) => r.headers['x-api-key'] === revoked).length, 0);
  });

  test('a key is never listed: the list has prefixes and dates, not keys or hashes', async () => {
    const key = await newKey();
    const list = await listKeys(gw.store, 'acme');
    const text = JSON.stringify(list);
    assert.ok(!text.includes(key));
    const state = await gw.store.read();
    for (const record of state.keys) assert.ok(!text.includes(record.hash));
    for (const view of list) assert.deepEqual(Object.keys(view).sort(), ['consumer', 'createdAt', 'expiresAt', 'id', 'lastUsedAt', 'prefix', 'revokedAt', 'status']);
    const audit = JSON.stringify(await gw.store.listAudit({ limit: 1000 }));
    assert.ok(!audit.includes(key), 'audit carries no key');
    for (const record of state.keys) assert.ok(!audit.includes(record.hash), 'audit carries no hash');
  });

  test('rotation with grace: both keys work, then the old one stops when the grace ends', async () => {
    const old = await newKey();
    const oldId = (await listKeys(gw.store, 'acme')).find((k) => old.startsWith(k.prefix))!.id;
    const rotated = await rotateKey(gw.store, 'acme', oldId, { actor: 'test', graceSeconds: 2 });
    await caughtUp(gw);
    assert.equal((await call(`${gw.url}/v1/models`, withKey(old))).status, 200);
    assert.equal((await call(`${gw.url}/v1/models`, withKey(rotated.key))).status, 200);
    await sleep(2300);
    assert.equal((await call(`${gw.url}/v1/models`, withKey(old))).status, 401);
    assert.equal((await call(`${gw.url}/v1/models`, withKey(rotated.key))).status, 200);
  });

  test('rotation without grace revokes the old key at once', async () => {
    const old = await newKey();
    const oldId = (await listKeys(gw.store, 'acme')).find((k) => old.startsWith(k.prefix))!.id;
    const rotated = await rotateKey(gw.store, 'acme', oldId, { actor: 'test' });
    await caughtUp(gw);
    assert.equal((await call(`${gw.url}/v1/models`, withKey(old))).status, 401);
    assert.equal((await call(`${gw.url}/v1/models`, withKey(rotated.key))).status, 200);
    assert.equal(rotated.replaced.status, 'revoked');
  });

  test('a key revoked through one node is refused by a second node on the same store within 2 s', async () => {
    const second = await startGateway(undefined, { storePath: gw.storePath });
    try {
      const key = await newKey();
      await caughtUp(second);
      assert.equal((await call(`${second.url}/v1/models`, withKey(key))).status, 200);
      const id = (await listKeys(gw.store, 'acme')).find((k) => key.startsWith(k.prefix))!.id;
      const revokedAt = Date.now();
      await revokeKey(gw.store, 'acme', id, { actor: 'test' });
      let status = 200;
      while (status === 200 && Date.now() - revokedAt < 3000) {
        status = (await call(`${second.url}/v1/models`, withKey(key))).status;
        if (status === 200) await sleep(25);
      }
      const took = Date.now() - revokedAt;
      assert.equal(status, 401);
      assert.ok(took < 2000, `second node refused the key after ${took} ms`);
    } finally {
      await second.close();
    }
  });

  test('last use is recorded in batches, without a new configuration revision', async () => {
    const key = await newKey();
    const id = (await listKeys(gw.store, 'acme')).find((k) => key.startsWith(k.prefix))!.id;
    const revision = await gw.store.revision();
    // Earlier tests touched other keys, so a flush timer may already be running and could fire
    // mid-loop: start from an empty batch with no timer, so the first touch below starts a full interval.
    const batch = gw.node.services.shared.get('key-usage') as KeyUsageBatch;
    batch.close();
    await batch.flush();
    for (let i = 0; i < 20; i++) assert.equal((await call(`${gw.url}/v1/models`, withKey(key))).status, 200);
    assert.equal((await gw.store.readKeyUsage())[id], undefined, 'not written per request');
    await batch.flush();
    const view = (await listKeys(gw.store, 'acme')).find((k) => k.id === id)!;
    assert.ok(view.lastUsedAt && Date.now() - Date.parse(view.lastUsedAt) < 10_000);
    assert.equal(await gw.store.revision(), revision, 'recording use made no revision');
  });
});

describe('consumer keys in the admin API', () => {
  test('create, list, rotate and revoke over HTTP, by consumer name or id, audited without secrets', async () => {
    const app = Fastify();
    installProblemHandler(app);
    registerConsumerKeyRoutes(app, { store: gw.store });
    await app.ready();
    try {
      const created = await app.inject({ method: 'POST', url: '/consumers/globex/keys', payload: {} });
      assert.equal(created.statusCode, 201);
      const issued = created.json();
      assert.deepEqual(Object.keys(issued).sort(), ['createdAt', 'expiresAt', 'id', 'key', 'prefix']);
      await caughtUp(gw);
      assert.equal((await call(`${gw.url}/v1/models`, withKey(issued.key))).status, 200);

      const consumerId = (await gw.store.read()).consumers.find((c) => c.name === 'globex')!.id;
      const listed = await app.inject({ method: 'GET', url: `/consumers/${consumerId}/keys` });
      assert.equal(listed.statusCode, 200);
      assert.ok(!listed.body.includes(issued.key));
      assert.ok(listed.json().some((k: { id: string }) => k.id === issued.id));

      const rotated = await app.inject({ method: 'POST', url: `/consumers/globex/keys/${issued.id}/rotate`, payload: { graceSeconds: 60 } });
      assert.equal(rotated.statusCode, 201);
      const successor = rotated.json();
      assert.match(successor.key, /^sb_live_/);
      await caughtUp(gw);
      assert.equal((await call(`${gw.url}/v1/models`, withKey(issued.key))).status, 200, 'old key within its grace');

      const badGrace = await app.inject({ method: 'POST', url: `/consumers/globex/keys/${successor.id}/rotate`, payload: { graceSeconds: -1 } });
      assert.equal(badGrace.statusCode, 400);
      assert.match(String(badGrace.headers['content-type']), /^application\/problem\+json/);
      assert.equal(badGrace.json().errors[0].path, '/graceSeconds');

      const revoked = await app.inject({ method: 'DELETE', url: `/consumers/globex/keys/${issued.id}` });
      assert.equal(revoked.statusCode, 200);
      assert.equal(revoked.json().status, 'revoked');
      await caughtUp(gw);
      assert.equal((await call(`${gw.url}/v1/models`, withKey(issued.key))).status, 401, 'revoked at once, grace or not');

      const missing = await app.inject({ method: 'DELETE', url: '/consumers/globex/keys/nope' });
      assert.equal(missing.statusCode, 404);
      const noConsumer = await app.inject({ method: 'POST', url: '/consumers/nobody/keys' });
      assert.equal(noConsumer.statusCode, 404);

      const audit = await gw.store.listAudit({ limit: 50 });
      const actions = audit.filter((a) => a.kind === 'key').map((a) => a.action);
      for (const action of ['key.create', 'key.rotate', 'key.revoke']) assert.ok(actions.includes(action), `${action} audited`);
      const text = JSON.stringify(audit);
      assert.ok(!text.includes(issued.key) && !text.includes(successor.key));
    } finally {
      await app.close();
    }
  });
});
