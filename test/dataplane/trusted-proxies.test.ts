import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const config = (url: string) => ({
  upstreams: [{ name: 'echo', targets: [{ url }] }],
  routes: [
    { name: 'lan-only', methods: ['GET'], paths: ['/lan'], upstream: 'echo', ipRestriction: { allow: ['10.0.0.0/8'] } },
    { name: 'per-ip', methods: ['GET'], paths: ['/limited'], upstream: 'echo', rateLimit: { max: 1, windowMs: 60000, by: 'ip' } },
  ],
  consumers: [],
});

let up: EchoUpstream;
let behindProxy: TestGateway;
let exposed: TestGateway;
before(async () => {
  up = await startEchoUpstream('echo');
  behindProxy = await startGateway(config(up.url), { trustedProxies: ['127.0.0.1/32'] });
  exposed = await startGateway(config(up.url));
});
after(async () => {
  await behindProxy.close();
  await exposed.close();
  await up.close();
});

async function status(gw: TestGateway, path: string, xff: string): Promise<number> {
  const res = await request(`${gw.url}${path}`, { headers: { 'x-forwarded-for': xff } });
  await res.body.dump();
  return res.statusCode;
}

test('behind a trusted proxy, IP lists and per-IP limits see the client named in x-forwarded-for', async () => {
  assert.equal(await status(behindProxy, '/lan', '10.1.2.3'), 200);
  assert.equal(await status(behindProxy, '/lan', '203.0.113.7'), 403);
  // Two clients behind one proxy have a limit each.
  assert.equal(await status(behindProxy, '/limited', '10.0.0.1'), 200);
  assert.equal(await status(behindProxy, '/limited', '10.0.0.2'), 200);
  assert.equal(await status(behindProxy, '/limited', '10.0.0.1'), 429);
});

test('x-forwarded-for stays a chain: the gateway appends the hop it heard from', async () => {
  const res = await request(`${behindProxy.url}/lan`, { headers: { 'x-forwarded-for': '10.1.2.3' } });
  const echoed = (await res.body.json()) as { headers: Record<string, string> };
  assert.equal(echoed.headers['x-forwarded-for'], '10.1.2.3, 127.0.0.1');
});

test('without trusted proxies, a client cannot talk its way in with x-forwarded-for', async () => {
  assert.equal(await status(exposed, '/lan', '10.1.2.3'), 403);
  assert.equal(await status(exposed, '/limited', '10.0.0.1'), 200);
  assert.equal(await status(exposed, '/limited', '10.0.0.2'), 429, 'both requests count against 127.0.0.1');
});
