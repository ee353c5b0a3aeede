import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { mergeVary } from '../../gateway/src/proxy/headers.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * Issue 9, defect 13: CORS's `Vary: Origin` replaced the upstream's own `Vary`, so a shared
 * cache could serve a gzip body to a client that did not ask for one (or one model's answer for
 * another's `Accept`).
 */
let up: EchoUpstream;
let gw: TestGateway;
let upstreamVary: string | string[] | undefined;

before(async () => {
  up = await startEchoUpstream('echo');
  up.handler = (_req, res) => {
    const headers: Record<string, string | string[]> = { 'content-type': 'text/plain' };
    if (upstreamVary !== undefined) headers.vary = upstreamVary;
    res.writeHead(200, headers);
    res.end('ok');
    return true;
  };
  gw = await startGateway({
    upstreams: [{ name: 'echo', targets: [{ url: up.url }] }],
    routes: [{ name: 'browser', methods: ['GET'], paths: ['/app/*'], upstream: 'echo', cors: { origins: ['https://app.example'] } }],
    consumers: [],
  });
});
after(async () => {
  await gw.close();
  await up.close();
});

async function varyFor(upstream: string | string[] | undefined): Promise<string | string[] | undefined> {
  upstreamVary = upstream;
  const res = await request(`${gw.url}/app/x`, { headers: { origin: 'https://app.example' } });
  await res.body.dump();
  assert.equal(res.headers['access-control-allow-origin'], 'https://app.example');
  return res.headers.vary;
}

test("CORS adds Origin to the upstream's Vary instead of replacing it", async () => {
  assert.equal(await varyFor('Accept-Encoding'), 'Accept-Encoding, Origin');
});

test('a token the upstream already varies on is not repeated, whatever its case', async () => {
  assert.equal(await varyFor('origin, Accept-Encoding'), 'origin, Accept-Encoding');
  assert.equal(await varyFor('ORIGIN'), 'ORIGIN');
});

test('several upstream Vary headers become one list', async () => {
  assert.equal(await varyFor(['Accept', 'Accept-Encoding']), 'Accept, Accept-Encoding, Origin');
});

test('Vary: * stays * (it already varies on everything)', async () => {
  assert.equal(await varyFor('*'), '*');
});

test('without an upstream Vary the answer varies on Origin', async () => {
  assert.equal(await varyFor(undefined), 'Origin');
});

test('mergeVary: a case-insensitive token list without duplicates or empty members', () => {
  assert.equal(mergeVary('Accept-Encoding', 'Origin'), 'Accept-Encoding, Origin');
  assert.equal(mergeVary(' accept-encoding ,, Origin', 'origin, Access-Control-Request-Method'), 'accept-encoding, Origin, Access-Control-Request-Method');
  assert.equal(mergeVary(undefined, 'Origin'), 'Origin');
  assert.equal(mergeVary('Accept', undefined), 'Accept');
  assert.equal(mergeVary('Accept', '*'), '*');
  assert.equal(mergeVary(['A', 'B, a'], 'b'), 'A, B');
});
