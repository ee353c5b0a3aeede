import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { UpstreamPool } from '../../gateway/src/balancer/upstream-pool.js';
import { OutlierDetector } from '../../gateway/src/health/outlier-detector.js';
import { shareEjections, type EjectionNotice } from '../../gateway/src/health/shared-ejections.js';
import { registries, upstream } from './fixtures.js';

const URLS = ['http://127.0.0.1:21001', 'http://127.0.0.1:21002'];
const spec = upstream('llm', URLS, { healthCheck: { passive: { consecutiveFailures: 2, ejectMs: 60_000, maxEjectMs: 600_000, maxEjectionPercent: 100, failOn: [502] } } });

/** One worker's registries with outlier detection, its notices collected as the primary would relay them. */
function worker() {
  const reg = registries();
  const pool = reg.pools.apply([spec]).get('llm')!;
  OutlierDetector.install(pool);
  const sent: EjectionNotice[] = [];
  const sharing = shareEjections(reg.pools, reg.targets, (n) => sent.push(n));
  return { reg, pool, sent, sharing, close: async () => { sharing.close(); await reg.close(); } };
}

function fail(pool: UpstreamPool, i: number, times: number) {
  const m = pool.members[i]!;
  for (let k = 0; k < times; k++) {
    pool.begin(m);
    pool.end(m, { latencyMs: 5, status: 502 });
  }
}
const eligible = (pool: UpstreamPool) => pool.eligibleMembers().map((m) => m.target.url);

test("an ejection one worker makes is the other's, until the same moment, and is not sent back", async (t) => {
  const a = worker();
  const b = worker();
  t.after(async () => Promise.all([a.close(), b.close()]));
  fail(a.pool, 0, 2);
  assert.equal(a.sent.length, 1, 'the ejecting worker tells the others once');
  const notice = a.sent[0]!;
  assert.equal(notice.url, URLS[0]);
  assert.ok(notice.ejectedUntil > Date.now() + 50_000);

  b.sharing.receive(notice);
  const there = b.pool.members[0]!.target;
  assert.equal(there.ejectedUntil, notice.ejectedUntil);
  assert.equal(there.ejections, 1, 'the next ejection on either worker doubles from the same count');
  assert.deepEqual(eligible(b.pool), [URLS[1]], 'the other worker sends it nothing');
  assert.equal(b.sent.length, 0, 'an ejection heard is not echoed');
  // The same notice again (a replay to a restarted worker) changes nothing.
  b.sharing.receive(notice);
  assert.equal(b.sent.length, 0);
});

test("the prober's early lift of an ejection reaches the worker that made it", async (t) => {
  const prober = worker();
  const ejector = worker();
  t.after(async () => Promise.all([prober.close(), ejector.close()]));
  fail(ejector.pool, 0, 2);
  prober.sharing.receive(ejector.sent[0]!);
  // What active-checker.ts does when a probe sent after the ejection passes.
  const state = prober.pool.members[0]!.target;
  const now = Date.now();
  state.ejectedUntil = now;
  state.ejectionDecayFrom = now;
  state.recoveredAt = now;
  state.changed();
  assert.equal(prober.sent.length, 1, 'the lift is news: it is sent');
  assert.equal(prober.sent[0]!.ejectedUntil, now);
  ejector.sharing.receive(prober.sent[0]!);
  assert.deepEqual(eligible(ejector.pool).sort(), [...URLS].sort(), 'back in rotation on the ejecting worker too');
  assert.equal(ejector.sent.length, 1, 'and not sent back');
  // A stale notice (the ejection before the lift, relayed late) does not put it out again.
  ejector.sharing.receive(ejector.sent[0]!);
  assert.deepEqual(eligible(ejector.pool).sort(), [...URLS].sort());
});

test('a notice for a target this worker has not built yet applies when a pool lists it', async (t) => {
  const a = worker();
  t.after(() => a.close());
  const late = registries();
  const sent: EjectionNotice[] = [];
  const sharing = shareEjections(late.pools, late.targets, (n) => sent.push(n));
  t.after(async () => {
    sharing.close();
    await late.close();
  });
  fail(a.pool, 1, 2);
  sharing.receive(a.sent[0]!);
  const pool = late.pools.apply([spec]).get('llm')!;
  assert.deepEqual(eligible(pool), [URLS[0]], 'built after the notice, the target starts ejected');
  assert.equal(sent.length, 0);
});
