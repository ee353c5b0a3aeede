import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { startClientLoop } from '../helpers/client-loop.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor } from '../helpers/gateway.js';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { manyRoutes, startNode, tempStore } from './scale-fixtures.js';
import type { RouteStage } from '../../gateway/src/generation/route-stage.js';

let upstream: EchoUpstream;
before(async () => {
  upstream = await startEchoUpstream('pool');
});
after(async () => {
  await upstream.close();
});

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  const body = await res.body.text();
  return { status: res.statusCode, body };
}

test('a node starts on 2 000 routes and the last route answers', async (t) => {
  const gw = await startGateway(manyRoutes(2000, upstream.url));
  t.after(() => gw.close());
  const last = await get(`${gw.url}/svc1999/x?q=1`);
  assert.equal(last.status, 200, last.body);
  assert.equal(JSON.parse(last.body).url, '/svc1999/x?q=1');
  assert.equal((await get(`${gw.url}/svc0/y`)).status, 200);
  // The route set is exact: a path outside it is still a 404, HEAD reaches the upstream as HEAD.
  assert.equal((await get(`${gw.url}/svc2000/x`)).status, 404);
  const head = await request(`${gw.url}/svc1234/x`, { method: 'HEAD' });
  await head.body.dump();
  assert.equal(head.statusCode, 200);
  assert.equal(upstream.received.at(-1)?.method, 'HEAD');
});

test('2 000 routes with an auth stage each compile and serve: the last one refuses a missing key and admits a good one', async (t) => {
  const { store, storePath, dispose } = await tempStore();
  await replaceConfig(store, { ...manyRoutes(2000, upstream.url, { auth: 'api-key' }), consumers: [{ name: 'acme', routes: ['r1999'] }] }, 'test');
  const { key } = await issueKey(store, 'acme', { actor: 'test' });
  const gw = await startNode(store, storePath, dispose);
  t.after(() => gw.close());
  assert.equal((await get(`${gw.node.url}/svc1999/x`)).status, 401);
  assert.equal((await get(`${gw.node.url}/svc1999/x`, { 'x-api-key': key })).status, 200);
  assert.equal((await get(`${gw.node.url}/svc0/x`, { 'x-api-key': key })).status, 403, 'acme may call r1999 only');
});

test('10 000 routes: a node reloads onto them while a client loop on the old revision sees no error, then the last route answers', async (t) => {
  const gw = await startGateway(manyRoutes(10, upstream.url));
  t.after(() => gw.close());
  const agent = new Agent({ connections: 4 });
  t.after(() => agent.close());
  const traffic = startClientLoop(`${gw.url}/svc3/ping`, agent, 2);
  await waitFor(() => traffic.sent > 20, 5000, 'the loop to warm up');
  const revision = await gw.apply(manyRoutes(10_000, upstream.url)).catch(async (err) => {
    await traffic.stop();
    throw err;
  });
  const atSwap = traffic.sent;
  await waitFor(() => traffic.sent > atSwap + 20, 5000, 'traffic after the swap');
  await traffic.stop();
  assert.equal(gw.node.revision, revision);
  assert.deepEqual(traffic.failures, [], `${traffic.failures.length} of ${traffic.sent} requests failed`);
  const last = await get(`${gw.url}/svc9999/x`);
  assert.equal(last.status, 200, last.body);
  assert.equal(JSON.parse(last.body).url, '/svc9999/x');
});

test('staged routes share a scope per scope-wide setup, not one each: 2 000 routes of four kinds make four scopes, and each kind keeps its own stages', async (t) => {
  // A probe stage on every route records the scope its route was built in.
  const scopes = new Set<unknown>();
  const probe: RouteStage = { name: 'probe', applies: () => true, register: (builder) => void scopes.add(builder.scope) };
  const { store, storePath, dispose } = await tempStore();
  const kind = (i: number) =>
    [{ auth: 'api-key' }, { auth: 'api-key', rateLimit: { max: 1 } }, { auth: 'jwt', jwtAudience: 'a' }, { auth: 'jwt', jwtAudience: 'b' }][i % 4];
  const routes = manyRoutes(2000, upstream.url).routes.map((r, i) => ({ ...r, ...kind(i) }));
  await replaceConfig(store, { upstreams: manyRoutes(0, upstream.url).upstreams, routes, consumers: [{ name: 'acme' }] }, 'test');
  const gw = await startNode(store, storePath, dispose, [probe]);
  t.after(() => gw.close());
  assert.equal(scopes.size, 4, 'one scope per kind: body handling, @fastify/rate-limit, and @fastify/jwt per audience');
  const { key } = await issueKey(gw.store, 'acme', { actor: 'test' });
  await waitFor(async () => (await get(`${gw.node.url}/svc1996/x`, { 'x-api-key': key })).status === 200);
  // r1997 limits to one request a minute; r1998 and r1999 want a JWT.
  assert.equal((await get(`${gw.node.url}/svc1997/x`, { 'x-api-key': key })).status, 200);
  assert.equal((await get(`${gw.node.url}/svc1997/x`, { 'x-api-key': key })).status, 429);
  assert.equal((await get(`${gw.node.url}/svc1993/x`, { 'x-api-key': key })).status, 200, 'a limit is its own route\'s');
  assert.equal((await get(`${gw.node.url}/svc1998/x`, { 'x-api-key': key })).status, 401);
  assert.equal((await get(`${gw.node.url}/svc1996/x`)).status, 401);
});
