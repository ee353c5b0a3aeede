import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import type { AdminServer } from '../../gateway/src/admin/admin-server.js';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startAdminBeside } from '../helpers/admin-beside.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

/**
 * GET /metrics as Prometheus scrapes it, after traffic that includes every answer the gateway
 * gives itself: each must be counted, and the whole exposition must pass promtool.
 */
let up: EchoUpstream;
let gw: TestGateway;
let admin: AdminServer;
let key: string;

before(async () => {
  up = await startEchoUpstream('m');
  gw = await startGateway({
    upstreams: [
      { name: 'pool', targets: [{ url: up.url }] },
      { name: 'drained', targets: [{ url: up.url, draining: true }] },
    ],
    routes: [
      { name: 'open', methods: ['GET', 'POST'], paths: ['/open/*'], upstream: 'pool', bodyLimit: 16 },
      { name: 'keyed', methods: ['GET'], paths: ['/keyed/*'], upstream: 'pool', auth: 'api-key' },
      { name: 'members', methods: ['GET'], paths: ['/members/*'], upstream: 'pool', auth: 'api-key' },
      { name: 'validated', methods: ['POST'], paths: ['/validated'], upstream: 'pool', bodyLimit: 16, schema: { body: { type: 'object' } } },
      { name: 'limited', methods: ['GET'], paths: ['/limited'], upstream: 'pool', rateLimit: { max: 1, windowMs: 60_000, by: 'ip' } },
      { name: 'nowhere', methods: ['GET'], paths: ['/nowhere'], upstream: 'drained' },
    ],
    consumers: [{ name: 'acme', routes: ['keyed'] }],
  });
  key = (await issueKey(gw.store, 'acme', { actor: 'test' })).key;
  await gw.apply(await gw.store.read().then(({ upstreams, routes, consumers }) => ({ upstreams, routes, consumers })));
  admin = await startAdminBeside(gw, { email: 'metrics@example.test', password: 'metrics-test-password' });
});
after(async () => {
  await admin.close();
  await gw.close();
  await up.close();
});

async function status(path: string, init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string } = {}): Promise<number> {
  const r = await request(`${gw.url}${path}`, init);
  await r.body.dump();
  return r.statusCode;
}

function counted(text: string, route: string, code: number): number {
  const m = new RegExp(`^switchboard_requests_total\\{route="${route}",status="${code}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

test('every answer the gateway gives itself is counted, by route (none when no route matched), and /metrics passes promtool', async () => {
  const big = 'x'.repeat(64);
  assert.equal(await status('/open/x'), 200);
  assert.equal(await status('/open/x', { method: 'POST', body: big }), 413, 'the fast lane refuses a body over the limit');
  assert.equal(await status('/validated', { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"a":"${big}"}` }), 413);
  assert.equal(await status('/keyed/x'), 401);
  assert.equal(await status('/keyed/x', { headers: { 'x-api-key': key } }), 200);
  assert.equal(await status('/members/x', { headers: { 'x-api-key': key } }), 403);
  assert.equal(await status('/limited'), 200);
  assert.equal(await status('/limited'), 429);
  assert.equal(await status('/nowhere'), 503);
  assert.equal(await status('/no/such/route'), 404);

  const scrape = await request(`${admin.url}/metrics`);
  assert.equal(scrape.statusCode, 200);
  const text = await scrape.body.text();

  const expected: Array<[string, number]> = [
    ['open', 200], ['open', 413], ['validated', 413], ['keyed', 401], ['keyed', 200], ['members', 403],
    ['limited', 200], ['limited', 429], ['nowhere', 503], ['none', 404],
  ];
  for (const [route, code] of expected) assert.equal(counted(text, route, code), 1, `switchboard_requests_total{route="${route}",status="${code}"}`);
  assert.match(text, /^switchboard_request_duration_seconds_count\{route="none"\} 1$/m, 'refusals have a duration too');

  // The standard process metrics, typed as Prometheus defines them.
  assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m);
  assert.match(text, /^# TYPE process_resident_memory_bytes gauge$/m);
  assert.match(text, /^# TYPE nodejs_heap_size_used_bytes gauge$/m);
  assert.match(text, /^# TYPE switchboard_upstream_target_requests_total counter$/m);
  for (const name of new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!)))
    assert.equal([...text.matchAll(new RegExp(`^# TYPE ${name} `, 'gm'))].length, 1, `${name} is described once`);

  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.ifError(promtool.error);
  assert.equal(promtool.status, 0, `promtool check metrics:\n${promtool.stdout}${promtool.stderr}`);
});
