import { recordLatency } from '../../gateway/src/balancer/peak-ewma.js';
import type { PoolMember } from '../../gateway/src/balancer/picker.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPicker as leastConnections } from '../../gateway/src/balancer/least-connections.js';
import { createLeastQueuePicker } from '../../gateway/src/balancer/least-queue.js';
import { createLeastResponseTimePicker } from '../../gateway/src/balancer/least-response-time.js';
import { createPowerOfTwoPicker } from '../../gateway/src/balancer/power-of-two.js';
import { xorshift32 } from '../../gateway/src/balancer/prng.js';
import { createRandomPicker } from '../../gateway/src/balancer/random.js';
import { createPicker as roundRobin } from '../../gateway/src/balancer/round-robin.js';
import { ctx, members, simulate, tally, upstream } from './fixtures.js';

// Three workers, the last one holds every request three times as long. Arrivals every 1 ms
// keep ~3 requests in flight on a fast worker and ~10 on the slow one under round robin.
const SIM = { requests: 6000, gapMs: 1, serviceMs: [10, 10, 30] };
const share = (counts: number[]) => counts[2]! / counts.reduce((a, b) => a + b, 0);

test('round robin (the baseline) gives the slow target its full third', () => {
  const pool = members([1, 1, 1]);
  const s = share(simulate(roundRobin({ members: pool, upstream: upstream('round-robin', pool) }), pool, SIM, { now: 0 }));
  assert.ok(Math.abs(s - 1 / 3) < 0.01, `share ${s}`);
});

test('least-connections sends the slow target well under a third', () => {
  const pool = members([1, 1, 1]);
  const s = share(simulate(leastConnections({ members: pool, upstream: upstream('least-connections', pool) }), pool, SIM, { now: 0 }));
  // The ideal (share proportional to speed) is 1/7 ≈ 0.14.
  assert.ok(s < 0.2, `share ${s}`);
});

test('least-response-time sends the slow target well under a third', () => {
  const pool = members([1, 1, 1]);
  const clock = { now: 0 };
  const picker = createLeastResponseTimePicker({ members: pool, upstream: upstream('least-response-time', pool) }, { now: () => clock.now });
  const s = share(simulate(picker, pool, SIM, clock));
  assert.ok(s < 0.2, `share ${s}`);
  // The estimate sits on the shared target state, for the health API.
  assert.ok(pool[2]!.target.ewmaMs > pool[0]!.target.ewmaMs);
});

test('power-of-two choices sends the slow target well under a third', () => {
  const pool = members([1, 1, 1]);
  const picker = createPowerOfTwoPicker({ members: pool, upstream: upstream('power-of-two', pool) }, xorshift32(42));
  const s = share(simulate(picker, pool, SIM, { now: 0 }));
  assert.ok(s < 0.2, `share ${s}`);
});

test('least-queue sends the slow target well under a third on scraped queue depths', () => {
  const pool = members([1, 1, 1]);
  const clock = { now: 0 };
  const picker = createLeastQueuePicker(
    { members: pool, upstream: upstream('least-queue', pool, { loadMetrics: { path: '/metrics', intervalMs: 1000, staleMs: 5000 } }) },
    { scrape: false, now: () => clock.now, random: xorshift32(7) },
  );
  // Scrapes every 25 ms see the workers' running counts; between scrapes the picker counts its own.
  const s = share(simulate(picker, pool, { ...SIM, scrapeEveryMs: 25, onScrape: (m) => picker.scraped(m) }, clock));
  assert.ok(s < 0.22, `share ${s}`);
});

test('least-connections prefers the heavier target when all are idle and rotates among equals', () => {
  const pool = members([1, 2]);
  const picker = leastConnections({ members: pool, upstream: upstream('least-connections', pool) });
  assert.equal(picker.pick(pool, ctx()).index, 1);
  const even = members([1, 1, 1]);
  const p2 = leastConnections({ members: even, upstream: upstream('least-connections', even) });
  assert.deepEqual(tally(p2, even, 30), [10, 10, 10]);
});

test('least-response-time takes a latency peak at once and forgets it with time', () => {
  const pool = members([1, 1]);
  const clock = { now: 1000 };
  const picker = createLeastResponseTimePicker({ members: pool, upstream: upstream('least-response-time', pool) }, { now: () => clock.now, tauMs: 10_000 });
  // What the pool does after every attempt.
  const observe = (m: PoolMember, latencyMs: number, ok: boolean) => recordLatency(m.target, latencyMs, ok, clock.now);
  observe(pool[0]!, 100, true);
  observe(pool[1]!, 100, true);
  clock.now += 10;
  observe(pool[0]!, 900, true);
  assert.equal(pool[0]!.target.ewmaMs, 900);
  assert.equal(picker.pick(pool, ctx()).index, 1);
  // A fast sample 10 s later blends in with weight 1 - 1/e.
  clock.now += 10_000;
  observe(pool[0]!, 100, true);
  assert.ok(Math.abs(pool[0]!.target.ewmaMs - (900 / Math.E + 100 * (1 - 1 / Math.E))) < 1e-6);
  // A failure is never cheaper than twice the estimate.
  observe(pool[1]!, 1, false);
  assert.equal(pool[1]!.target.ewmaMs, 200);
});

test('random follows weights 1:3 with a seeded generator', () => {
  const pool = members([1, 3]);
  const picker = createRandomPicker({ members: pool, upstream: upstream('random', pool) }, xorshift32(1));
  const counts = tally(picker, pool, 40_000);
  assert.ok(Math.abs(counts[1]! / 40_000 - 0.75) < 0.01, `counts ${counts}`);
});

test('power-of-two never compares a target with itself and honours weights', () => {
  const pool = members([1, 1]);
  pool[0]!.target.inFlight = 5;
  const picker = createPowerOfTwoPicker({ members: pool, upstream: upstream('power-of-two', pool) }, xorshift32(3));
  // Two distinct draws out of two: the less loaded one wins every time.
  assert.deepEqual(tally(picker, pool, 100), [0, 100]);
  const weighted = members([1, 1, 8]);
  const p = createPowerOfTwoPicker({ members: weighted, upstream: upstream('power-of-two', weighted) }, xorshift32(9));
  const counts = tally(p, weighted, 10_000);
  // Equal in-flight counts: the weight-8 target is in almost every pair and wins its ties half the time.
  assert.ok(counts[2]! > counts[0]! * 2, `counts ${counts}`);
});
