import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway } from '../helpers/gateway.js';

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

async function head(url: string): Promise<{ status: number; upstream: string | undefined }> {
  const res = await request(url, { method: 'HEAD' });
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
