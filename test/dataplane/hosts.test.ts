import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

let a: EchoUpstream;
let b: EchoUpstream;
let gw: TestGateway;

before(async () => {
  a = await startEchoUpstream('a');
  b = await startEchoUpstream('b');
  gw = await startGateway({
    upstreams: [
      { name: 'pool-a', targets: [{ url: a.url }] },
      { name: 'pool-b', targets: [{ url: b.url }] },
    ],
    routes: [
      { name: 'for-a', methods: ['GET'], paths: ['/v1/*'], hosts: ['a.example.com'], upstream: 'pool-a' },
      { name: 'for-b', methods: ['GET'], paths: ['/v1/*'], hosts: ['b.example.com'], upstream: 'pool-b' },
      { name: 'disabled', methods: ['GET'], paths: ['/off'], upstream: 'pool-a', enabled: false },
    ],
    consumers: [],
  });
});
after(async () => {
  await gw.close();
  await a.close();
  await b.close();
});

test('routes with hosts match on the Host header', async () => {
  const ra = await request(`${gw.url}/v1/x`, { headers: { host: 'a.example.com' } });
  const rb = await request(`${gw.url}/v1/x`, { headers: { host: 'B.example.com:8080' } });
  assert.equal(ra.headers['x-upstream'], 'a');
  assert.equal(rb.headers['x-upstream'], 'b');
  await ra.body.dump();
  await rb.body.dump();
  const none = await request(`${gw.url}/v1/x`, { headers: { host: 'c.example.com' } });
  assert.equal(none.statusCode, 404);
  await none.body.dump();
});

test('a disabled route does not serve', async () => {
  const res = await request(`${gw.url}/off`);
  assert.equal(res.statusCode, 404);
  await res.body.dump();
});

test('/healthz answers 200 with the revision in force', async () => {
  const res = await request(`${gw.url}/healthz`);
  assert.equal(res.statusCode, 200);
  const body = (await res.body.json()) as Record<string, unknown>;
  assert.deepEqual({ status: body.status, revision: body.revision, store: body.store }, { status: 'ok', revision: gw.node.revision, store: 'reachable' });
});
