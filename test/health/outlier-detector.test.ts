import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AttemptOutcome, UpstreamPool } from '../../gateway/src/balancer/upstream-pool.js';
import { OutlierDetector } from '../../gateway/src/health/outlier-detector.js';
import { attachHealth } from '../../gateway/src/health/index.js';
import { healthReport } from '../../gateway/src/health/health-report.js';
import { registries, sleep, upstream, waitFor } from './fixtures.js';

const urls = (n: number) => Array.from({ length: n }, (_, i) => `http://127.0.0.1:${20001 + i}`);
const passive = (extra = {}) => ({ consecutiveFailures: 3, ejectMs: 200, maxEjectMs: 10_000, maxEjectionPercent: 50, failOn: [500, 502, 503, 504], ...extra });

function poolWith(n: number, extra = {}) {
  const reg = registries();
  const pool = reg.pools.apply([upstream('llm', urls(n), { healthCheck: { passive: passive(extra) } })]).get('llm')!;
  const detector = OutlierDetector.install(pool)!;
  return { reg, pool, detector };
}

/** One finished attempt to member `i`, exactly as the proxy reports it. */
function attempt(pool: UpstreamPool, i: number, outcome: Partial<AttemptOutcome>) {
  const m = pool.members[i]!;
  pool.begin(m);
  pool.end(m, { latencyMs: 5, status: undefined, ...outcome });
}
const fail = (pool: UpstreamPool, i: number, times = 1) => {
  for (let k = 0; k < times; k++) attempt(pool, i, { status: 502 });
};
const eligibleUrls = (pool: UpstreamPool) => pool.eligibleMembers().map((m) => m.target.url);

test('consecutive failures eject the target, and a success in between resets the count', async (t) => {
  const { reg, pool } = poolWith(2);
  t.after(() => reg.close());
  const state = pool.members[0]!.target;
  fail(pool, 0, 2);
  attempt(pool, 0, { status: 200 });
  assert.equal(state.consecutiveFailures, 0);
  fail(pool, 0, 2);
  assert.equal(state.ejectedUntil, 0, 'two in a row are not enough');
  fail(pool, 0);
  assert.ok(state.ejectedUntil > Date.now(), 'third in a row ejects');
  assert.equal(state.ejections, 1);
  assert.deepEqual(eligibleUrls(pool), [urls(2)[1]]);
  assert.equal(healthReport(pool)[0]!.state, 'unhealthy');
  assert.ok(healthReport(pool)[0]!.ejectedUntil);
  // The pool readmits it lazily once the ejection lapses, on the hot path's clock check.
  const other = pool.members[1]!;
  for (let i = 0; i < 4; i++) assert.equal(pool.pick({ clientIp: '', hashKey: undefined }), other);
  await waitFor(() => state.ejectedUntil <= Date.now(), 1000, 'ejection lapse');
  const picked = new Set<unknown>();
  for (let i = 0; i < 4; i++) picked.add(pool.pick({ clientIp: '', hashKey: undefined }));
  assert.equal(picked.size, 2, 'back in rotation');
});

test('connect errors, timeouts and resets count as failures; 4xx and statuses outside failOn do not', (t) => {
  const { reg, pool } = poolWith(2);
  t.after(() => reg.close());
  const state = pool.members[0]!.target;
  attempt(pool, 0, { error: 'connect' });
  attempt(pool, 0, { error: 'timeout' });
  assert.equal(state.consecutiveFailures, 2);
  attempt(pool, 0, { status: 404 });
  assert.equal(state.consecutiveFailures, 0);
  attempt(pool, 0, { status: 501 });
  attempt(pool, 0, { error: 'reset' });
  attempt(pool, 0, { status: 503 });
  assert.equal(state.consecutiveFailures, 2, '501 is not in failOn and reset the count');
});

test('the ejection time doubles on each repeat and is capped at maxEjectMs', async (t) => {
  // ejectMs well above the 10 ms polling, so no clean-period decay sneaks in between rounds.
  const { reg, pool } = poolWith(2, { ejectMs: 300, maxEjectMs: 750 });
  t.after(() => reg.close());
  const state = pool.members[0]!.target;
  const durations: number[] = [];
  for (let round = 0; round < 3; round++) {
    await waitFor(() => state.ejectedUntil <= Date.now(), 2000, 'lapse');
    const before = Date.now();
    fail(pool, 0, 3);
    durations.push(state.ejectedUntil - before);
  }
  assert.deepEqual(
    durations.map((d) => Math.round(d / 50) * 50),
    [300, 600, 750],
  );
  assert.equal(state.ejections, 3);
});

test('ejections are forgiven after a clean period', async (t) => {
  const { reg, pool } = poolWith(2, { ejectMs: 100 });
  t.after(() => reg.close());
  const state = pool.members[0]!.target;
  fail(pool, 0, 3);
  assert.equal(state.ejections, 1);
  // Lapse (100 ms) plus one clean ejectMs (100 ms), with margin.
  await sleep(350);
  attempt(pool, 0, { status: 200 });
  assert.equal(state.ejections, 0);
  const before = Date.now();
  fail(pool, 0, 3);
  assert.ok(state.ejectedUntil - before <= 150, 'back to the base ejection time');
});

test('never more than maxEjectionPercent of the pool is ejected; the refusal is counted', (t) => {
  const { reg, pool, detector } = poolWith(4, { maxEjectionPercent: 50 });
  t.after(() => reg.close());
  fail(pool, 0, 3);
  fail(pool, 1, 3);
  fail(pool, 2, 3);
  const ejected = pool.members.filter((m) => m.target.ejectedUntil > Date.now()).length;
  assert.equal(ejected, 2);
  assert.equal(detector.refused, 1);
  assert.equal(pool.members[2]!.target.ejectionsRefused, 1);
  assert.equal(pool.eligibleMembers().length, 2);
});

test('attachHealth wires outlier detection into pools with a passive check, and into their replacements', (t) => {
  const reg = registries();
  const health = attachHealth(reg.pools);
  t.after(async () => {
    health.close();
    await reg.close();
  });
  let pools = reg.pools.apply([
    upstream('with', urls(2), { healthCheck: { passive: passive() } }),
    upstream('without', [urls(3)[2]!]),
  ]);
  assert.equal(typeof pools.get('with')!.onOutcome, 'function');
  assert.equal(pools.get('without')!.onOutcome, undefined);
  pools = reg.pools.apply([upstream('with', urls(2), { healthCheck: { passive: passive({ consecutiveFailures: 2 }) } })]);
  const pool = pools.get('with')!;
  fail(pool, 1, 2);
  assert.ok(pool.members[1]!.target.ejectedUntil > Date.now(), 'the new pool ejects with its own threshold');
  assert.equal(health.outliers.detectorFor(pool)!.ejected, 1);
});
