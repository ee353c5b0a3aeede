import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { ALGORITHMS, type Upstream } from '../../spec/upstream.js';
import type { PoolMember } from '../../gateway/src/balancer/picker.js';
import { TargetRegistry } from '../../gateway/src/balancer/target-registry.js';
import { UpstreamPool, type Member } from '../../gateway/src/balancer/upstream-pool.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway } from '../helpers/gateway.js';

const URLS = [1, 2, 3, 4].map((i) => `http://10.3.0.${i}:8000`);
const spec = (algorithm: Upstream['algorithm']) =>
  ({
    name: 'pool',
    algorithm,
    targets: URLS.map((url) => ({ url, weight: 1, backup: false })),
    slowStartMs: 0,
    panicThreshold: 0,
    retryBudgetPercent: 20,
    hashOn: { source: 'header', name: 'x-session' },
    loadMetrics: { path: '/metrics', intervalMs: 60_000, staleMs: 5000 },
  }) as Upstream;

function picked(pool: UpstreamPool, i: number, tried?: readonly PoolMember[]): Member {
  const m = pool.pick({ clientIp: `198.51.100.${i % 250}`, hashKey: `session-${i}` }, tried);
  assert.notEqual(typeof m, 'string');
  return m as Member;
}

test('every algorithm avoids all the targets a request already tried while another is eligible', async () => {
  const registry = new TargetRegistry();
  for (const algorithm of ALGORITHMS) {
    const pool = new UpstreamPool(spec(algorithm), registry);
    for (let i = 0; i < 60; i++) {
      const first = picked(pool, i);
      const second = picked(pool, i, [first]);
      const third = picked(pool, i, [first, second]);
      const fourth = picked(pool, i, [first, second, third]);
      assert.equal(new Set([first, second, third, fourth]).size, 4, `${algorithm} returned to a tried target for request ${i}`);
      // Every target tried: a retry may go anywhere rather than fail.
      picked(pool, i, [first, second, third, fourth]);
    }
    pool.close();
  }
  await registry.close();
});

test('consistent-hash and ip-hash walk the ring past the tried targets, the same way every time', async () => {
  const registry = new TargetRegistry();
  for (const algorithm of ['consistent-hash', 'ip-hash'] as const) {
    const pool = new UpstreamPool(spec(algorithm), registry);
    for (let i = 0; i < 40; i++) {
      const home = picked(pool, i);
      const next = picked(pool, i, [home]);
      assert.notEqual(next, home);
      for (let again = 0; again < 3; again++) assert.equal(picked(pool, i, [home]), next, `${algorithm}: the retry target of key ${i} must be stable`);
      const after = picked(pool, i, [home, next]);
      assert.ok(after !== home && after !== next, `${algorithm}: third attempt of key ${i}`);
    }
    pool.close();
  }
  await registry.close();
});

test('with two of three workers failing, two retries reach the third one every time (random picks)', async (t) => {
  const sick = await Promise.all(['sick-a', 'sick-b'].map((name) => startEchoUpstream(name)));
  for (const s of sick)
    s.handler = (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain', 'x-upstream': s.name });
      res.end('overloaded');
      return true;
    };
  const well = await startEchoUpstream('well');
  const gw = await startGateway({
    upstreams: [{ name: 'pool', algorithm: 'random', targets: [{ url: sick[0]!.url }, { url: sick[1]!.url }, { url: well.url }] }],
    routes: [{ name: 'r', methods: ['GET'], paths: ['/r/*'], upstream: 'pool', retries: 2 }],
    consumers: [],
  });
  t.after(async () => {
    await gw.close();
    await Promise.all([...sick, well].map((u) => u.close()));
  });
  for (let i = 0; i < 30; i++) {
    const before = sick.map((s) => s.received.length);
    const res = await request(`${gw.url}/r/${i}`);
    await res.body.dump();
    assert.equal(res.statusCode, 200, `request ${i}`);
    assert.equal(res.headers['x-upstream'], 'well');
    sick.forEach((s, k) => assert.ok(s.received.length - before[k]! <= 1, `request ${i} went to ${s.name} twice`));
  }
});

test('a sticky request whose worker fails is retried on another one, and its cookie follows the new worker', async (t) => {
  const { stickyCookieValue } = await import('../../gateway/src/balancer/sticky.js');
  const sick = await startEchoUpstream('sick');
  sick.handler = (_req, res) => {
    res.writeHead(503, { 'x-upstream': 'sick' });
    res.end();
    return true;
  };
  const well = await startEchoUpstream('well');
  const gw = await startGateway({
    upstreams: [{ name: 'pool', sticky: { cookie: 'sb_sticky' }, targets: [{ url: sick.url }, { url: well.url }] }],
    routes: [{ name: 'r', methods: ['GET'], paths: ['/s/*'], upstream: 'pool', retries: 1 }],
    consumers: [],
  });
  t.after(async () => {
    await gw.close();
    await sick.close();
    await well.close();
  });
  const [toSick, toWell] = gw.node.upstreams.get('pool')!.members;
  for (let i = 0; i < 5; i++) {
    const before = sick.received.length;
    const res = await request(`${gw.url}/s/${i}`, { headers: { cookie: `sb_sticky=${stickyCookieValue(toSick!)}` } });
    await res.body.dump();
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-upstream'], 'well');
    assert.equal(sick.received.length - before, 1, 'the stuck-to worker had its one attempt');
    assert.match(String(res.headers['set-cookie']), new RegExp(`sb_sticky=${stickyCookieValue(toWell!).replace(/[.]/g, '\\.')}`));
  }
});
