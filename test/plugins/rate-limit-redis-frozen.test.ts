import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CounterStore } from '../../plugins/rate-limit/counter-store.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { startRedis, type RedisServer } from './redis-server.js';

/**
 * A hung Redis (SIGSTOP: the connection stays up, nothing answers) is the case the "Redis is
 * down" handling got wrong: every request waited out the command timeout, and on SIGCONT Redis
 * ran every increment that had piled up in its socket, over-counting the shared window.
 */
let redis: RedisServer;
let upstream: EchoUpstream;
let gw: TestGateway;

const counters = () => gw.node.services.shared.get('rate-limit-counters') as CounterStore;

before(async () => {
  redis = await startRedis();
  upstream = await startEchoUpstream('echo');
  gw = await startGateway({
    upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
    routes: [
      { name: 'steady', methods: ['GET'], paths: ['/steady'], upstream: 'echo', rateLimit: { max: 1_000_000, windowMs: 60_000, by: 'ip' } },
      { name: 'exact', methods: ['GET'], paths: ['/exact'], upstream: 'echo', rateLimit: { max: 50, windowMs: 60_000, by: 'ip' } },
    ],
    consumers: [],
  }, { redisUrl: redis.url });
  await waitFor(() => counters().redisUp, 5000, 'the node connected to Redis');
});
after(async () => {
  redis.thaw();
  await gw.close();
  await upstream.close();
  await redis.stop();
});

interface Sent {
  startedMs: number;
  latencyMs: number;
  status: number;
}

/** Open loop: `count` requests at `perSecond`, each sent on time whether or not earlier ones answered. */
async function load(path: string, perSecond: number, count: number): Promise<Sent[]> {
  const pending: Array<Promise<Sent>> = [];
  const interval = 1000 / perSecond;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const startedMs = performance.now();
    pending.push(
      fetch(`${gw.url}${path}`).then(async (r) => {
        await r.arrayBuffer();
        return { startedMs: startedMs - t0, latencyMs: performance.now() - startedMs, status: r.status };
      }),
    );
    const next = t0 + (i + 1) * interval;
    await sleep(Math.max(0, next - performance.now()));
  }
  return Promise.all(pending);
}

function p50(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

describe('a frozen Redis under a rate-limited route', () => {
  test('after the first timeouts the breaker opens and requests count locally at baseline latency', async () => {
    const baseline = p50((await load('/steady', 100, 100)).map((s) => s.latencyMs));
    redis.freeze();
    let frozen: Sent[];
    try {
      frozen = await load('/steady', 100, 300);
    } finally {
      redis.thaw();
    }
    assert.ok(frozen.every((s) => s.status === 200), 'every request served while Redis hung');
    // The first requests wait out one command timeout (250 ms); after that nothing should.
    const afterTrip = frozen.filter((s) => s.startedMs > 500).map((s) => s.latencyMs);
    const frozenP50 = p50(afterTrip);
    // 2× the baseline, with some absolute slack for a loaded test machine; a wait per request costs 250 ms.
    assert.ok(frozenP50 <= Math.max(2 * baseline, baseline + 50), `p50 ${frozenP50.toFixed(1)} ms while frozen, baseline ${baseline.toFixed(1)} ms`);
    const slow = afterTrip.filter((ms) => ms >= 250).length;
    assert.ok(slow <= afterTrip.length * 0.1, `${slow} of ${afterTrip.length} requests after the trip still waited out a Redis timeout`);
    assert.match(gw.metrics.render(), /switchboard_ratelimit_redis_up 0/, 'the outage is visible while the breaker is open');
    await waitFor(() => counters().redisUp, 5000, 'the breaker closed again after SIGCONT');
  });

  test('increments sent before the breaker opened are not counted when Redis resumes, and local counting carries on from the shared count', async () => {
    await waitFor(() => counters().redisUp, 5000, 'shared counting');
    for (let i = 0; i < 10; i++) assert.equal((await fetch(`${gw.url}/exact`).then((r) => r.status)), 200);

    redis.freeze();
    const frozenAt = Date.now();
    let during: Sent[];
    try {
      // 45 requests at 100 req/s: the node knew of 10, so exactly 40 more fit the limit of 50.
      during = await load('/exact', 100, 45);
      // A hang, not a hiccup: the commands sent before the breaker opened must sit in Redis'
      // socket far past their deadline, whatever the load on this machine did to the timers.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 2000 - (Date.now() - frozenAt))));
    } finally {
      redis.thaw();
    }
    assert.equal(during.length, 45);
    assert.equal(during.filter((s) => s.status === 200).length, 40, 'the node alone enforces the limit from the last shared count');
    assert.equal(during.filter((s) => s.status === 429).length, 5);

    await waitFor(() => counters().redisUp, 5000, 'the breaker closed again after SIGCONT');
    // Redis must hold exactly the 10 increments it answered in time: the ones that reached it
    // late (queued in its socket while it was stopped) were counted locally and must not count twice.
    let admitted = 0;
    for (let i = 0; i < 50; i++) if ((await fetch(`${gw.url}/exact`).then((r) => r.status)) === 200) admitted++;
    assert.equal(admitted, 40, 'the shared window resumes at 10 of 50');
  });
});
