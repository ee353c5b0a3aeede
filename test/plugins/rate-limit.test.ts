import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { periodBounds } from '../../plugins/quota/index.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, caughtUp } from './fixtures.js';

let upstream: EchoUpstream;
let gw: TestGateway;
let acmeKey: string;
let globexKey: string;
let initechKey: string;

const config = (extraRoutes: object[] = []) => ({
  upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
  routes: [
    { name: 'by-ip', methods: ['GET'], paths: ['/ip'], upstream: 'echo', rateLimit: { max: 3, windowMs: 60_000, by: 'ip' } },
    { name: 'by-consumer', methods: ['GET'], paths: ['/c'], upstream: 'echo', auth: 'api-key', rateLimit: { max: 2, windowMs: 60_000, by: 'consumer' } },
    { name: 'a', methods: ['GET'], paths: ['/a'], upstream: 'echo', auth: 'api-key' },
    { name: 'b', methods: ['GET'], paths: ['/b'], upstream: 'echo', auth: 'api-key' },
    { name: 'only-a', methods: ['GET'], paths: ['/private'], upstream: 'echo', auth: 'api-key' },
    // The same limit on two routes: each route counts its own requests.
    { name: 'twin-1', methods: ['GET'], paths: ['/t1'], upstream: 'echo', rateLimit: { max: 2, windowMs: 60_000, by: 'ip' } },
    { name: 'twin-2', methods: ['GET'], paths: ['/t2'], upstream: 'echo', rateLimit: { max: 2, windowMs: 60_000, by: 'ip' } },
    ...extraRoutes,
  ],
  consumers: [
    { name: 'acme', rateLimit: { max: 4, windowMs: 60_000 }, routes: ['by-consumer', 'a', 'b'] },
    { name: 'globex' },
    { name: 'initech', quota: { max: 2, period: 'day' } },
  ],
});

before(async () => {
  upstream = await startEchoUpstream('echo');
  gw = await startGateway(config());
  acmeKey = (await issueKey(gw.store, 'acme', { actor: 'test' })).key;
  globexKey = (await issueKey(gw.store, 'globex', { actor: 'test' })).key;
  initechKey = (await issueKey(gw.store, 'initech', { actor: 'test' })).key;
  await caughtUp(gw);
});
after(async () => {
  await gw.close();
  await upstream.close();
});

const key = (k: string) => ({ headers: { 'x-api-key': k } });

describe('rate limits', () => {
  test('a route limit admits exactly max requests with RateLimit headers, then 429 problem+json with Retry-After', async () => {
    for (let i = 1; i <= 3; i++) {
      const a = await call(`${gw.url}/ip`);
      assert.equal(a.status, 200);
      assert.equal(a.headers.get('ratelimit-limit'), '3');
      assert.equal(a.headers.get('ratelimit-remaining'), String(3 - i));
      const reset = Number(a.headers.get('ratelimit-reset'));
      assert.ok(reset > 0 && reset <= 60, `reset ${reset}`);
    }
    const refused = await call(`${gw.url}/ip`);
    assert.equal(refused.status, 429);
    assert.match(refused.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(refused.body.status, 429);
    assert.equal(refused.headers.get('ratelimit-remaining'), '0');
    const retryAfter = Number(refused.headers.get('retry-after'));
    assert.ok(retryAfter > 0 && retryAfter <= 60);
    assert.ok(refused.headers.get('x-request-id'));
    assert.equal(gw.metrics.rateLimited.get('by-ip'), 1);
    assert.match(gw.metrics.render(), /switchboard_ratelimit_rejected_total\{route="by-ip"\} 1/);
  });

  test('two routes with the same limit count apart', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await call(`${gw.url}/t1`)).status, 200);
    assert.equal((await call(`${gw.url}/t1`)).status, 429);
    const other = await call(`${gw.url}/t2`);
    assert.equal(other.status, 200, 'twin-2 has its own count');
    assert.equal(other.headers.get('ratelimit-remaining'), '1');
  });

  test('a route limit by consumer counts each consumer apart', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await call(`${gw.url}/c`, key(acmeKey))).status, 200);
    assert.equal((await call(`${gw.url}/c`, key(acmeKey))).status, 429);
    assert.equal((await call(`${gw.url}/c`, key(globexKey))).status, 200, 'another consumer has its own count');
  });

  test('a consumer limit spans routes and survives a configuration reload', async () => {
    // acme: 4 per minute across routes; /c already used 3 (2 admitted + 1 refused by the route limit).
    // Start from the consumer counter's current state by reading headers from route a.
    const first = await call(`${gw.url}/a`, key(acmeKey));
    assert.equal(first.status, 200);
    const left = Number(first.headers.get('ratelimit-remaining'));
    assert.equal(first.headers.get('ratelimit-limit'), '4');
    await gw.apply(config([{ name: 'extra', methods: ['GET'], paths: ['/extra'], upstream: 'echo' }]));
    await caughtUp(gw);
    for (let i = 0; i < left; i++) assert.equal((await call(`${gw.url}/${i % 2 ? 'a' : 'b'}`, key(acmeKey))).status, 200);
    const refused = await call(`${gw.url}/b`, key(acmeKey));
    assert.equal(refused.status, 429, 'count carried across the reload and across routes');
    assert.equal(refused.body.type, 'urn:switchboard:problem:rate-limited');
  });

  test('a consumer calling a route outside its routes list gets 403 problem+json', async () => {
    const refused = await call(`${gw.url}/private`, key(acmeKey));
    assert.equal(refused.status, 403);
    assert.equal(refused.body.type, 'urn:switchboard:problem:forbidden');
    assert.equal((await call(`${gw.url}/private`, key(globexKey))).status, 200, 'no routes list = every route');
  });
});

describe('quotas', () => {
  test('a daily quota answers with X-Quota headers and refuses past max with 429 until the UTC day ends', async () => {
    const { endMs } = periodBounds('day', Date.now());
    for (let i = 1; i <= 2; i++) {
      const a = await call(`${gw.url}/a`, key(initechKey));
      assert.equal(a.status, 200);
      assert.equal(a.headers.get('x-quota-limit'), '2');
      assert.equal(a.headers.get('x-quota-remaining'), String(2 - i));
      const reset = Number(a.headers.get('x-quota-reset'));
      assert.ok(Math.abs(reset - (endMs - Date.now()) / 1000) < 5);
    }
    const refused = await call(`${gw.url}/b`, key(initechKey));
    assert.equal(refused.status, 429);
    assert.equal(refused.body.type, 'urn:switchboard:problem:quota-exceeded');
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
  });

  test('periods are UTC calendar days and months', () => {
    const t = Date.UTC(2025, 0, 31, 23, 59, 59);
    assert.deepEqual(periodBounds('day', t), { startMs: Date.UTC(2025, 0, 31), endMs: Date.UTC(2025, 1, 1) });
    assert.deepEqual(periodBounds('month', t), { startMs: Date.UTC(2025, 0, 1), endMs: Date.UTC(2025, 1, 1) });
    assert.deepEqual(periodBounds('month', Date.UTC(2025, 11, 15)), { startMs: Date.UTC(2025, 11, 1), endMs: Date.UTC(2026, 0, 1) });
  });
});
