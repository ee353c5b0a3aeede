import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_EMAIL, routeBody, startHarness, upstreamBody, type AdminHarness } from './admin-harness.js';

const strip = (items: Array<Record<string, unknown>>) => items.map(({ version: _v, updatedAt: _u, ...rest }) => rest);

describe('admin API: whole configuration, revisions, audit', () => {
  let h: AdminHarness;
  let admin: string;
  let editor: string;
  before(async () => {
    h = await startHarness();
    admin = await h.login();
    await h.api('POST', '/users', { token: admin, body: { email: 'editor@example.test', role: 'editor', password: 'editor-password-1' } });
    editor = await h.login('editor@example.test', 'editor-password-1');
  });
  after(() => h.close());

  test('PUT /config with one bad reference changes nothing and names the field', async () => {
    const good = { upstreams: [upstreamBody('cfg-pool')], routes: [routeBody('cfg-route', 'cfg-pool')], consumers: [{ name: 'cfg-partner', routes: ['cfg-route'] }] };
    const put = await h.api('PUT', '/config', { token: editor, body: good });
    assert.equal(put.status, 200);
    const before = await h.api('GET', '/config', { token: editor });
    const revisionBefore = (await h.store.read()).revision;
    const bad = structuredClone(good) as typeof good;
    bad.routes.push(routeBody('cfg-broken', 'missing-pool'));
    (bad.upstreams[0] as { targets: Array<{ url: string }> }).targets[0]!.url = 'http://127.0.0.1:4444';
    const refused = await h.api('PUT', '/config', { token: editor, body: bad });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body.errors.map((e: { path: string }) => e.path), ['/routes/1/upstream']);
    assert.equal((await h.store.read()).revision, revisionBefore, 'no revision was written');
    assert.deepEqual((await h.api('GET', '/config', { token: editor })).body, before.body);
  });

  test('GET /config carries the revision as ETag; PUT /config with a stale If-Match is 412', async () => {
    const current = await h.api('GET', '/config', { token: editor });
    const etag = current.headers.get('etag')!;
    const ok = await h.api('PUT', '/config', { token: editor, body: current.body, headers: { 'if-match': etag } });
    assert.equal(ok.status, 200);
    const stale = await h.api('PUT', '/config', { token: editor, body: current.body, headers: { 'if-match': etag } });
    assert.equal(stale.status, 412);
  });

  test('a rollback restores the earlier routes exactly, as a new audited revision', async () => {
    await h.api('POST', '/upstreams', { token: editor, body: upstreamBody('rb-pool') });
    await h.api('POST', '/routes', { token: editor, body: routeBody('rb-one', 'rb-pool') });
    await h.api('POST', '/routes', { token: editor, body: { ...routeBody('rb-two', 'rb-pool'), timeoutMs: 5000, docs: { summary: 'two', public: false } } });
    const snapshot = (await h.api('GET', '/routes', { token: editor })).body;
    const goodRevision = (await h.store.read()).revision;

    await h.api('PUT', '/routes/rb-two', { token: admin, body: { ...routeBody('rb-two', 'rb-pool', '/moved'), retries: 3 } });
    await h.api('DELETE', '/routes/rb-one', { token: admin });
    await h.api('POST', '/routes', { token: admin, body: routeBody('rb-three', 'rb-pool') });
    assert.notDeepEqual(strip((await h.api('GET', '/routes', { token: editor })).body), strip(snapshot));

    const list = await h.api('GET', '/revisions', { token: editor });
    assert.equal(list.status, 200);
    assert.ok(list.body.some((r: { revision: number }) => r.revision === goodRevision));
    assert.equal(list.body[0].revision > goodRevision, true, 'newest first');
    const one = await h.api('GET', `/revisions/${goodRevision}`, { token: editor });
    assert.equal(one.status, 200);
    assert.deepEqual(one.body.config.routes.map((r: { name: string }) => r.name).sort(), snapshot.map((r: { name: string }) => r.name).sort());

    const restored = await h.api('POST', `/revisions/${goodRevision}/restore`, { token: editor });
    assert.equal(restored.status, 200);
    const after = (await h.api('GET', '/routes', { token: editor })).body;
    assert.deepEqual(strip(after), strip(snapshot), 'same ids, names and content');
    const rbTwo = after.find((r: { name: string }) => r.name === 'rb-two');
    assert.ok(rbTwo.version > 2, 'versions move forward so earlier ETags are stale');

    const audit = (await h.api('GET', '/audit?limit=5', { token: editor })).body;
    assert.equal(audit[0].action, 'restore');
    assert.equal(audit[0].actor, 'editor@example.test');
    assert.equal(audit[0].id, String(goodRevision));
    assert.equal((await h.api('POST', '/revisions/999999/restore', { token: editor })).status, 404);
  });

  test('the audit log says who did what, newest first, with before and after', async () => {
    await h.api('POST', '/upstreams', { token: admin, body: upstreamBody('audit-pool', 1) });
    await h.api('PUT', '/upstreams/audit-pool', { token: editor, body: upstreamBody('audit-pool', 2) });
    await h.api('DELETE', '/upstreams/audit-pool', { token: admin });
    const audit = await h.api('GET', '/audit?limit=3', { token: editor });
    assert.equal(audit.status, 200);
    const [del, update, create] = audit.body;
    assert.deepEqual([del.action, update.action, create.action], ['delete', 'update', 'create']);
    assert.deepEqual([del.actor, update.actor, create.actor], [ADMIN_EMAIL, 'editor@example.test', ADMIN_EMAIL]);
    for (const e of audit.body) {
      assert.equal(e.kind, 'upstream');
      assert.ok(!Number.isNaN(Date.parse(e.at)));
    }
    assert.equal(create.before, null);
    assert.equal(update.before.targets[0].url, 'http://127.0.0.1:1');
    assert.equal(update.after.targets[0].url, 'http://127.0.0.1:2');
    assert.equal(del.after, null);
    assert.equal(create.id, update.id);
  });
});
