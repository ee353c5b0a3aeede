import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_EMAIL, startHarness, upstreamBody, type AdminHarness } from './admin-harness.js';

describe('admin API: users and roles', () => {
  let h: AdminHarness;
  let admin: string;
  before(async () => {
    h = await startHarness();
    admin = await h.login();
  });
  after(() => h.close());

  test('an admin creates users; the password is never answered and the new user can sign in', async () => {
    const created = await h.api('POST', '/users', { token: admin, body: { email: 'Ed@Example.test', role: 'editor', password: 'editor-password-1' } });
    assert.equal(created.status, 201);
    assert.equal(created.body.email, 'ed@example.test');
    assert.equal(created.body.password, undefined);
    assert.equal(created.body.passwordHash, undefined);
    const byEmail = await h.api('GET', '/users/ed@example.test', { token: admin });
    assert.equal(byEmail.status, 200);
    assert.equal(byEmail.body.id, created.body.id);
    assert.equal((await h.api('POST', '/users', { token: admin, body: { email: 'ed@example.test', role: 'viewer', password: 'another-password' } })).status, 409);
    const noPassword = await h.api('POST', '/users', { token: admin, body: { email: 'np@example.test', role: 'viewer' } });
    assert.equal(noPassword.status, 400);
    assert.deepEqual(noPassword.body.errors.map((e: { path: string }) => e.path), ['/password']);
    const stored = (await h.store.read()).users.find((u) => u.email === 'ed@example.test')!;
    assert.match(stored.passwordHash, /^scrypt\$/);
    assert.ok(!stored.passwordHash.includes('editor-password-1'));
    await h.login('ed@example.test', 'editor-password-1');
  });

  test('viewer reads only; editor changes config but not users; admin does everything (403 otherwise)', async () => {
    await h.api('POST', '/users', { token: admin, body: { email: 'vi@example.test', role: 'viewer', password: 'viewer-password-1' } });
    await h.api('POST', '/users', { token: admin, body: { email: 'ed2@example.test', role: 'editor', password: 'editor-password-2' } });
    const viewer = await h.login('vi@example.test', 'viewer-password-1');
    const editor = await h.login('ed2@example.test', 'editor-password-2');

    assert.equal((await h.api('GET', '/upstreams', { token: viewer })).status, 200);
    assert.equal((await h.api('GET', '/config', { token: viewer })).status, 200);
    assert.equal((await h.api('GET', '/audit', { token: viewer })).status, 200);
    const denied = await h.api('POST', '/upstreams', { token: viewer, body: upstreamBody('viewer-pool') });
    assert.equal(denied.status, 403);
    assert.match(denied.headers.get('content-type') ?? '', /problem\+json/);
    assert.equal((await h.api('POST', '/upstreams', { token: viewer, body: { broken: true } })).status, 403, '403 comes before body validation');
    assert.equal((await h.api('PUT', '/config', { token: viewer, body: { upstreams: [], routes: [], consumers: [] } })).status, 403);
    assert.equal((await h.api('GET', '/users', { token: viewer })).status, 403);

    assert.equal((await h.api('POST', '/upstreams', { token: editor, body: upstreamBody('editor-pool') })).status, 201);
    assert.equal((await h.api('DELETE', '/upstreams/editor-pool', { token: editor })).status, 204);
    assert.equal((await h.api('GET', '/users', { token: editor })).status, 403);
    assert.equal((await h.api('POST', '/users', { token: editor, body: { email: 'x@example.test', role: 'admin', password: 'escalate-me-1' } })).status, 403);

    assert.equal((await h.api('GET', '/users', { token: admin })).status, 200);
  });

  test('a role change applies to the next request, even with a token issued before it', async () => {
    await h.api('POST', '/users', { token: admin, body: { email: 'demote@example.test', role: 'editor', password: 'demote-password' } });
    const token = await h.login('demote@example.test', 'demote-password');
    assert.equal((await h.api('POST', '/upstreams', { token, body: upstreamBody('before-demotion') })).status, 201);
    const user = await h.api('GET', '/users/demote@example.test', { token: admin });
    assert.equal((await h.api('PUT', '/users/demote@example.test', { token: admin, body: { email: user.body.email, role: 'viewer' } })).status, 200);
    assert.equal((await h.api('POST', '/upstreams', { token, body: upstreamBody('after-demotion') })).status, 403);
    await h.login('demote@example.test', 'demote-password'); // a PUT without password keeps it
    assert.equal((await h.api('DELETE', '/users/demote@example.test', { token: admin })).status, 204);
    assert.equal((await h.api('GET', '/upstreams', { token })).status, 401, 'a deleted user\'s token stops working');
  });

  test('the last admin cannot be deleted or demoted (409)', async () => {
    const self = await h.api('GET', `/users/${ADMIN_EMAIL}`, { token: admin });
    assert.equal((await h.api('DELETE', `/users/${self.body.id}`, { token: admin })).status, 409);
    assert.equal((await h.api('PUT', `/users/${self.body.id}`, { token: admin, body: { email: ADMIN_EMAIL, role: 'viewer' } })).status, 409);
  });
});

describe('admin sign-in', () => {
  test('repeated wrong passwords are throttled with 429 and Retry-After, even for the right password', async (t) => {
    const h = await startHarness();
    t.after(() => h.close());
    let last = 0;
    for (let i = 0; i < 7; i++) last = (await h.api('POST', '/auth/login', { body: { email: ADMIN_EMAIL, password: `guess-${i}` } })).status;
    assert.equal(last, 429);
    const right = await h.api('POST', '/auth/login', { body: { email: ADMIN_EMAIL, password: 'correct horse battery staple' } });
    assert.equal(right.status, 429);
    assert.ok(Number(right.headers.get('retry-after')) >= 1);
    // Another account from the same address is not locked by this one's failures.
    const other = await h.api('POST', '/auth/login', { body: { email: 'nobody@example.test', password: 'whatever-it-is' } });
    assert.equal(other.status, 401);
  });

  test('without ADMIN_PASSWORD the first admin gets a generated password, returned once', async (t) => {
    const h = await startHarness({ env: { adminEmail: undefined, adminPassword: undefined } });
    t.after(() => h.close());
    assert.equal(h.admin.initialEmail, 'admin@switchboard.local');
    assert.ok((h.admin.initialPassword ?? '').length >= 12);
    await h.login(h.admin.initialEmail, h.admin.initialPassword);
    // A second server on the same store finds the admin and prints nothing.
    const second = await startHarness({ store: h.store, dir: h.dir, env: { adminEmail: undefined, adminPassword: undefined } });
    t.after(() => second.close());
    assert.equal(second.admin.initialPassword, undefined);
    await second.login(h.admin.initialEmail, h.admin.initialPassword);
  });
});
