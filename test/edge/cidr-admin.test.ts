import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { routeBody, startHarness, upstreamBody, type AdminHarness } from '../admin/admin-harness.js';

/** Issue 9, defect 7 at save: the admin API refuses a malformed CIDR with a 400 naming the field. */
let h: AdminHarness;
let token: string;
before(async () => {
  h = await startHarness();
  token = await h.login();
});
after(async () => {
  await h.close();
});

test("an upstream's trustedProxies entry 10.0.0.0/ is refused with 400 naming /trustedProxies/1, and nothing is saved", async () => {
  const revision = await h.store.revision();
  const answer = await h.api('POST', '/upstreams', { token, body: { ...upstreamBody('lb'), trustedProxies: ['10.0.0.0/8', '10.0.0.0/'] } });
  assert.equal(answer.status, 400, answer.text);
  assert.deepEqual(answer.body.errors.map((e: { path: string }) => e.path), ['/trustedProxies/1']);
  assert.match(answer.body.errors[0].message, /invalid prefix length/);
  assert.equal(await h.store.revision(), revision);
});

test("a route's ipRestriction entries are checked the same way, each named", async () => {
  assert.equal((await h.api('POST', '/upstreams', { token, body: upstreamBody('pool') })).status, 201);
  const answer = await h.api('POST', '/routes', { token, body: { ...routeBody('lan', 'pool'), ipRestriction: { allow: ['01.2.3.4'], deny: ['fd00::/129'] } } });
  assert.equal(answer.status, 400, answer.text);
  assert.deepEqual(answer.body.errors.map((e: { path: string }) => e.path).sort(), ['/ipRestriction/allow/0', '/ipRestriction/deny/0']);
  const fine = await h.api('POST', '/routes', { token, body: { ...routeBody('lan', 'pool'), ipRestriction: { allow: ['10.0.0.0/8', '::ffff:192.168.0.0/112'] } } });
  assert.equal(fine.status, 201, fine.text);
});

test('PUT /config with a malformed CIDR is refused whole', async () => {
  const answer = await h.api('PUT', '/config', {
    token,
    body: { upstreams: [{ ...upstreamBody('u'), trustedProxies: ['1.2.3'] }], routes: [], consumers: [] },
    headers: { 'if-match': '*' },
  });
  assert.equal(answer.status, 400, answer.text);
  assert.ok(answer.body.errors.some((e: { path: string }) => e.path === '/upstreams/0/trustedProxies/0'), answer.text);
});
