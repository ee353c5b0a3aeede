import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor } from '../helpers/gateway.js';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import type { RouteStage } from '../../gateway/src/generation/route-stage.js';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startNode, tempStore } from './scale-fixtures.js';

// Routes without stages live in the front router only, and HEAD on them is answered from the GET
// tree; these pin that HEAD still goes where Fastify's own HEAD routing would send it.
let wide: EchoUpstream;
let narrow: EchoUpstream;
before(async () => {
  wide = await startEchoUpstream('wide');
  narrow = await startEchoUpstream('narrow');
});
after(async () => {
  await wide.close();
  await narrow.close();
});

const upstreams = () => [
  { name: 'wide', targets: [{ url: wide.url }] },
  { name: 'narrow', targets: [{ url: narrow.url }] },
];

async function head(url: string, headers: Record<string, string> = {}): Promise<{ status: number; upstream: string | undefined }> {
  const res = await request(url, { method: 'HEAD', headers });
  await res.body.dump();
  return { status: res.statusCode, upstream: res.headers['x-upstream'] as string | undefined };
}

test('HEAD on a plain GET route reaches its upstream as HEAD; a more specific route with stages keeps its own HEAD', async (t) => {
  const gw = await startGateway({
    upstreams: upstreams(),
    routes: [
      { name: 'wide', upstream: 'wide', paths: ['/a/*'], methods: ['GET'] },
      { name: 'keyed', upstream: 'narrow', paths: ['/a/b'], methods: ['GET'], auth: 'api-key' },
    ],
  });
  t.after(() => gw.close());
  assert.deepEqual(await head(`${gw.url}/a/c?x=1`), { status: 200, upstream: 'wide' });
  assert.equal(wide.received.at(-1)?.method, 'HEAD');
  assert.equal(wide.received.at(-1)?.url, '/a/c?x=1');
  assert.equal((await head(`${gw.url}/a/b`)).status, 401, 'the keyed route, not the wide lane');
  assert.equal((await head(`${gw.url}/z`)).status, 404);
});

test('a HEAD-only route more specific than a plain GET route wins HEAD, as in Fastify', async (t) => {
  const gw = await startGateway({
    upstreams: upstreams(),
    routes: [
      { name: 'wide', upstream: 'wide', paths: ['/a/*'], methods: ['GET'] },
      { name: 'probe', upstream: 'narrow', paths: ['/a/b'], methods: ['HEAD'] },
    ],
  });
  t.after(() => gw.close());
  assert.deepEqual(await head(`${gw.url}/a/b`), { status: 200, upstream: 'narrow' });
  assert.deepEqual(await head(`${gw.url}/a/c`), { status: 200, upstream: 'wide' });
});

test('keyed routes are stage lanes, HEAD with them: no Fastify route at all, 401 without a key, the upstream gets HEAD with one', async (t) => {
  // A probe stage records every route Fastify is given in the staged routes' scopes, twins included.
  const given: Array<{ url: string; method: string | string[] }> = [];
  const watched = new Set<unknown>();
  const probe: RouteStage = {
    name: 'probe',
    applies: () => true,
    register: ({ scope }) => {
      if (watched.has(scope)) return;
      watched.add(scope);
      scope.addHook('onRoute', (options) => void given.push({ url: options.url, method: options.method }));
    },
  };
  const { store, storePath, dispose } = await tempStore();
  await replaceConfig(
    store,
    {
      upstreams: upstreams(),
      routes: [
        { name: 'keyed', upstream: 'narrow', paths: ['/k/*', '/k2'], methods: ['GET', 'POST'], auth: 'api-key' },
        // A route declaring HEAD for a keyed route's path takes HEAD there, as it would from Fastify's twin.
        // (Until this test the twin, mirrored into the front router beside this lane, made the revision fail to compile.)
        { name: 'probed', upstream: 'wide', paths: ['/p'], methods: ['GET'], auth: 'api-key' },
        { name: 'head-probe', upstream: 'wide', paths: ['/p'], methods: ['HEAD'] },
        // Both with stages: the HEAD-only route is Fastify's too.
        { name: 'q-get', upstream: 'narrow', paths: ['/q'], methods: ['GET'], auth: 'api-key' },
        { name: 'q-head', upstream: 'wide', paths: ['/q'], methods: ['HEAD'], auth: 'api-key' },
      ],
      consumers: [{ name: 'acme' }],
    },
    'test',
  );
  const gw = await startNode(store, storePath, dispose, [probe]);
  t.after(() => gw.close());
  // Keys need nothing of Fastify's: every keyed route is a stage lane of the front router
  // (stage-lane.ts), which answers HEAD from the GET route; Fastify is given no route, twin or other.
  assert.deepEqual(given, [], 'no Fastify route for stage lanes');
  const { key } = await issueKey(gw.store, 'acme', { actor: 'test' });
  await waitFor(async () => (await request(`${gw.node.url}/k2`, { headers: { 'x-api-key': key } }).then((r) => r.body.dump().then(() => r.statusCode))) === 200);

  const refused = await request(`${gw.node.url}/k/x`, { method: 'HEAD' });
  assert.equal(refused.statusCode, 401);
  assert.equal(await refused.body.text(), '', 'HEAD answers carry no body');
  assert.ok(Number(refused.headers['content-length']) > 0, 'but the length of the problem a GET would get');
  assert.deepEqual(await head(`${gw.node.url}/k/x?y=1`, { 'x-api-key': key }), { status: 200, upstream: 'narrow' });
  assert.equal(narrow.received.at(-1)?.method, 'HEAD');
  assert.equal(narrow.received.at(-1)?.url, '/k/x?y=1');
  // The HEAD-only route on /p wins HEAD; the keyed route keeps GET.
  assert.deepEqual(await head(`${gw.node.url}/p`), { status: 200, upstream: 'wide' });
  assert.equal((await request(`${gw.node.url}/p`)).statusCode, 401);
  assert.deepEqual(await head(`${gw.node.url}/q`, { 'x-api-key': key }), { status: 200, upstream: 'wide' });
  const get = await request(`${gw.node.url}/q`, { headers: { 'x-api-key': key } });
  assert.equal(JSON.parse(await get.body.text()).upstream, 'narrow');
});
