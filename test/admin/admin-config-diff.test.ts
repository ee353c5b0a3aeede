import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startHarness, type AdminHarness } from './admin-harness.js';

describe('admin API: POST /config/diff', () => {
  let h: AdminHarness;
  let admin: string;
  let viewer: string;
  const SECRET = 'jwt-hmac-secret-that-never-leaves-0123';
  const config = (weight: number, secret = SECRET) => ({
    upstreams: [{ name: 'gpus', targets: [{ url: 'http://127.0.0.1:9001', weight }] }],
    routes: [{ name: 'chat', methods: ['POST'], paths: ['/v1/chat'], upstream: 'gpus' }],
    consumers: [{ name: 'acme', jwt: [{ issuer: 'https://issuer.example', secret }] }],
  });

  before(async () => {
    h = await startHarness();
    admin = await h.login();
    await h.api('POST', '/users', { token: admin, body: { email: 'viewer@example.test', role: 'viewer', password: 'viewer-password-1' } });
    viewer = await h.login('viewer@example.test', 'viewer-password-1');
    assert.equal((await h.api('PUT', '/config', { token: admin, body: config(1) })).status, 200);
  });
  after(() => h.close());

  test('a viewer gets the plan against the current revision (ETag), and nothing is saved', async () => {
    const revision = (await h.store.read()).revision;
    const answer = await h.api('POST', '/config/diff', { token: viewer, body: { ...config(4), routes: [] } });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers.get('etag'), `"${revision}"`);
    assert.equal(answer.body.revision, revision);
    assert.deepEqual(answer.body.changes, [
      { kind: 'upstreams', name: 'gpus', action: 'changed', fields: [{ path: 'targets[0].weight', before: 1, after: 4 }] },
      { kind: 'routes', name: 'chat', action: 'removed', fields: [] },
    ]);
    assert.equal(answer.body.unchanged, 1);
    assert.equal((await h.store.read()).revision, revision, 'nothing committed');
  });

  test('the same configuration plans no change, though the export shows no secret', async () => {
    const answer = await h.api('POST', '/config/diff', { token: viewer, body: config(1) });
    assert.deepEqual(answer.body.changes, []);
    assert.equal(answer.body.unchanged, 3);
  });

  test('a changed secret is a change with no value in the answer', async () => {
    const answer = await h.api('POST', '/config/diff', { token: viewer, body: config(1, 'another-secret-value-abcdefghijklmnop') });
    assert.deepEqual(answer.body.changes, [{ kind: 'consumers', name: 'acme', action: 'changed', fields: [{ path: 'jwt[0].secret', secret: true }] }]);
    assert.doesNotMatch(answer.text, /another-secret|jwt-hmac-secret/);
  });

  test('a bad configuration is a 400 naming every bad field, as PUT /config would', async () => {
    const answer = await h.api('POST', '/config/diff', { token: viewer, body: { upstreams: [{ name: 'u', targets: [{ url: 'nope' }] }], routes: [{ name: 'r', paths: ['/r'], upstream: 'missing' }] } });
    assert.equal(answer.status, 400);
    const paths = (answer.body.errors as Array<{ path: string }>).map((e) => e.path);
    assert.ok(paths.some((p) => p.startsWith('/upstreams/0/targets/0/url')), paths.join());
    assert.ok(paths.some((p) => p.startsWith('/routes/0/upstream')), paths.join());
  });

  test('without a token the plan is refused', async () => {
    assert.equal((await h.api('POST', '/config/diff', { body: config(1) })).status, 401);
  });
});
