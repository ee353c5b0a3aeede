import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_EMAIL, routeBody, startHarness, upstreamBody, type AdminHarness } from './admin-harness.js';

describe('admin API: items, versions and conflicts', () => {
  let h: AdminHarness;
  let token: string;
  before(async () => {
    h = await startHarness();
    token = await h.login();
  });
  after(() => h.close());

  test('every call but login needs a valid bearer token (401 problem+json otherwise)', async () => {
    const none = await h.api('GET', '/upstreams');
    assert.equal(none.status, 401);
    assert.match(none.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.equal(none.body.status, 401);
    assert.ok(none.body.type && none.body.title && none.body.detail);
    const forged = await h.api('GET', '/upstreams', { token: token.slice(0, -4) + 'AAAA' });
    assert.equal(forged.status, 401);
    const wrongPassword = await h.api('POST', '/auth/login', { body: { email: ADMIN_EMAIL, password: 'not-the-password' } });
    assert.equal(wrongPassword.status, 401);
    const ok = await h.api('POST', '/auth/login', { body: { email: ADMIN_EMAIL.toUpperCase(), password: 'correct horse battery staple' } });
    assert.equal(ok.status, 200);
    assert.equal(typeof ok.body.token, 'string');
    assert.ok(ok.body.expiresIn > 0);
  });

  test('create answers 201 with id, version 1 and ETag; the item reads back by id and by name', async () => {
    const created = await h.api('POST', '/upstreams', { token, body: upstreamBody('pool-a') });
    assert.equal(created.status, 201);
    assert.equal(typeof created.body.id, 'string');
    assert.equal(created.body.version, 1);
    assert.equal(created.headers.get('etag'), '"1"');
    assert.equal(created.body.targets[0].weight, 1, 'defaults from the spec schema are applied');
    const byId = await h.api('GET', `/upstreams/${created.body.id}`, { token });
    const byName = await h.api('GET', '/upstreams/pool-a', { token });
    assert.equal(byId.status, 200);
    assert.equal(byName.status, 200);
    assert.deepEqual(byId.body, byName.body);
    assert.equal(byName.headers.get('etag'), '"1"');
    const list = await h.api('GET', '/upstreams', { token });
    assert.ok(list.body.some((u: { name: string }) => u.name === 'pool-a'));
    assert.equal((await h.api('GET', '/upstreams/nope', { token })).status, 404);
  });

  test('a duplicate name is 409', async () => {
    await h.api('POST', '/upstreams', { token, body: upstreamBody('pool-dup') });
    const again = await h.api('POST', '/upstreams', { token, body: upstreamBody('pool-dup') });
    assert.equal(again.status, 409);
    assert.deepEqual(again.body.errors.map((e: { path: string }) => e.path), ['/name']);
    const other = await h.api('POST', '/upstreams', { token, body: upstreamBody('pool-dup-2') });
    const rename = await h.api('PUT', `/upstreams/${other.body.id}`, { token, body: upstreamBody('pool-dup') });
    assert.equal(rename.status, 409, 'renaming onto a taken name is a duplicate too');
  });

  test('PUT and DELETE with a stale If-Match are 412; a current one succeeds and bumps the version', async () => {
    const created = await h.api('POST', '/upstreams', { token, body: upstreamBody('pool-v') });
    const v1 = created.headers.get('etag')!;
    const put = await h.api('PUT', '/upstreams/pool-v', { token, body: upstreamBody('pool-v', 10), headers: { 'if-match': v1 } });
    assert.equal(put.status, 200);
    assert.equal(put.body.version, 2);
    assert.equal(put.headers.get('etag'), '"2"');
    const stalePut = await h.api('PUT', `/upstreams/${created.body.id}`, { token, body: upstreamBody('pool-v', 11), headers: { 'if-match': v1 } });
    assert.equal(stalePut.status, 412);
    const staleBodyVersion = await h.api('PUT', '/upstreams/pool-v', { token, body: { ...upstreamBody('pool-v', 11), version: 1 } });
    assert.equal(staleBodyVersion.status, 412, 'a body carrying the version it was read at is a precondition too');
    const staleDelete = await h.api('DELETE', '/upstreams/pool-v', { token, headers: { 'if-match': v1 } });
    assert.equal(staleDelete.status, 412);
    assert.equal((await h.api('GET', '/upstreams/pool-v', { token })).body.targets[0].url, 'http://127.0.0.1:10');
    const del = await h.api('DELETE', '/upstreams/pool-v', { token, headers: { 'if-match': '"2"' } });
    assert.equal(del.status, 204);
    assert.equal((await h.api('GET', '/upstreams/pool-v', { token })).status, 404);
  });

  test('an invalid body is 400 naming every bad field', async () => {
    const bad = await h.api('POST', '/upstreams', {
      token,
      body: { name: 'has space', algorithm: 'fastest', targets: [{ url: 'ftp://x' }], colour: 'red' },
    });
    assert.equal(bad.status, 400);
    assert.match(bad.headers.get('content-type') ?? '', /application\/problem\+json/);
    const paths = bad.body.errors.map((e: { path: string }) => e.path).sort();
    assert.deepEqual(paths, ['/algorithm', '/colour', '/name', '/targets/0/url']);
    const badRoute = await h.api('POST', '/routes', { token, body: { name: 'r', paths: ['nope'], upstream: 'pool-a', methods: ['FETCH'] } });
    assert.equal(badRoute.status, 400);
    assert.deepEqual(badRoute.body.errors.map((e: { path: string }) => e.path).sort(), ['/methods/0', '/paths/0']);
  });

  test('a route naming an unknown upstream is 400 at /upstream; deleting an upstream a route uses is 409', async () => {
    const orphan = await h.api('POST', '/routes', { token, body: routeBody('orphan', 'no-such-pool') });
    assert.equal(orphan.status, 400);
    assert.deepEqual(orphan.body.errors.map((e: { path: string }) => e.path), ['/upstream']);
    await h.api('POST', '/upstreams', { token, body: upstreamBody('pool-used') });
    const route = await h.api('POST', '/routes', { token, body: routeBody('uses-pool', 'pool-used') });
    assert.equal(route.status, 201);
    const del = await h.api('DELETE', '/upstreams/pool-used', { token });
    assert.equal(del.status, 409);
    assert.match(del.body.detail, /route "uses-pool"/);
    const rename = await h.api('PUT', '/upstreams/pool-used', { token, body: upstreamBody('pool-renamed') });
    assert.equal(rename.status, 409, 'renaming an upstream a route names would break the route');
    const clash = await h.api('POST', '/routes', { token, body: routeBody('same-path', 'pool-used', '/uses-pool') });
    assert.equal(clash.status, 400);
    assert.deepEqual([...new Set(clash.body.errors.map((e: { path: string }) => e.path))], ['/paths/0']);
  });

  test('a consumer naming an unknown route is 400; deleting a route a consumer lists is 409', async () => {
    await h.api('POST', '/upstreams', { token, body: upstreamBody('pool-c') });
    await h.api('POST', '/routes', { token, body: routeBody('partner-route', 'pool-c') });
    const bad = await h.api('POST', '/consumers', { token, body: { name: 'p1', routes: ['ghost'] } });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.errors.map((e: { path: string }) => e.path), ['/routes/0']);
    const ok = await h.api('POST', '/consumers', { token, body: { name: 'p1', routes: ['partner-route'] } });
    assert.equal(ok.status, 201);
    assert.equal((await h.api('DELETE', '/routes/partner-route', { token })).status, 409);
  });

  test('validate endpoints run the save checks and save nothing', async () => {
    const before = await h.api('GET', '/routes', { token });
    const good = await h.api('POST', '/routes/validate', { token, body: routeBody('dry-run', 'pool-a') });
    assert.equal(good.status, 200);
    assert.equal(good.body.valid, true);
    assert.equal(good.body.item.auth, 'none', 'answers the item with defaults applied');
    const bad = await h.api('POST', '/routes/validate', { token, body: routeBody('dry-run', 'nowhere') });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.errors.map((e: { path: string }) => e.path), ['/upstream']);
    const badUpstream = await h.api('POST', '/upstreams/validate', { token, body: { name: 'x', targets: [] } });
    assert.equal(badUpstream.status, 400);
    assert.deepEqual(badUpstream.body.errors.map((e: { path: string }) => e.path), ['/targets']);
    assert.deepEqual((await h.api('GET', '/routes', { token })).body, before.body);
  });

  test('consumer JWT secrets are write-only: never answered, kept across a PUT that omits them', async () => {
    const secret = 'consumer-hmac-secret-0123456789';
    const created = await h.api('POST', '/consumers', { token, body: { name: 'jwt-partner', jwt: [{ issuer: 'acme', algorithm: 'HS256', secret }] } });
    assert.equal(created.status, 201);
    assert.equal(created.body.jwt[0].secret, undefined);
    const edited = await h.api('PUT', '/consumers/jwt-partner', { token, body: { ...created.body, tags: ['gold'] } });
    assert.equal(edited.status, 200);
    const stored = (await h.store.read()).consumers.find((c) => c.name === 'jwt-partner')!;
    assert.equal(stored.jwt![0]!.secret, secret);
    assert.ok(!JSON.stringify(h.answers.map((a) => a.text)).includes(secret));
  });

  test('the store being unreachable turns writes into 503 problems', async () => {
    const original = h.store.commit.bind(h.store);
    const { StoreUnavailableError } = await import('../../gateway/src/store/port.js');
    h.store.commit = async () => {
      throw new StoreUnavailableError('connection refused');
    };
    try {
      const answer = await h.api('POST', '/upstreams', { token, body: upstreamBody('pool-503') });
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('retry-after'), '5');
    } finally {
      h.store.commit = original;
    }
  });
});
