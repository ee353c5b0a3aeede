import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startHarness, type AdminHarness } from './admin-harness.js';

let h: AdminHarness;
let admin: string;
before(async () => {
  h = await startHarness();
  admin = await h.login();
});
after(() => h.close());

test('a password change ends every token of that user at once; their new sign-in works and nobody else is signed out', async () => {
  const created = await h.api('POST', '/users', { token: admin, body: { email: 'pw@example.test', role: 'editor', password: 'first-password-1' } });
  assert.equal(created.status, 201);
  const laptop = await h.login('pw@example.test', 'first-password-1');
  const phone = await h.login('pw@example.test', 'first-password-1');
  for (const token of [laptop, phone]) assert.equal((await h.api('GET', '/upstreams', { token })).status, 200);

  const changed = await h.api('PUT', `/users/${created.body.id}`, { token: admin, body: { email: 'pw@example.test', role: 'editor', password: 'second-password-2' } });
  assert.equal(changed.status, 200);
  for (const token of [laptop, phone]) {
    const refused = await h.api('GET', '/upstreams', { token });
    assert.equal(refused.status, 401, 'a token issued before the password change');
    assert.match(refused.body.detail, /password/);
  }
  await assert.rejects(h.login('pw@example.test', 'first-password-1'));
  const fresh = await h.login('pw@example.test', 'second-password-2');
  assert.equal((await h.api('GET', '/upstreams', { token: fresh })).status, 200);
  assert.equal((await h.api('GET', '/upstreams', { token: admin })).status, 200, "another user's token is untouched");
});

test('an edit that leaves the password alone (a role change) keeps the user signed in, with the new role at once', async () => {
  const created = await h.api('POST', '/users', { token: admin, body: { email: 'role@example.test', role: 'editor', password: 'role-password-1' } });
  const token = await h.login('role@example.test', 'role-password-1');
  assert.equal((await h.api('PUT', `/users/${created.body.id}`, { token: admin, body: { email: 'role@example.test', role: 'viewer' } })).status, 200);
  assert.equal((await h.api('GET', '/upstreams', { token })).status, 200, 'still signed in');
  assert.equal((await h.api('POST', '/upstreams', { token, body: { name: 'x', targets: [{ url: 'http://127.0.0.1:9' }] } })).status, 403, 'as a viewer now');
});
