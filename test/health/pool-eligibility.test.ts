import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { UpstreamPool } from '../../gateway/src/balancer/upstream-pool.js';
import { healthReport } from '../../gateway/src/health/health-report.js';
import { registries, sleep, upstream } from './fixtures.js';

const url = (i: number) => `http://127.0.0.1:${21001 + i}`;
const ctx = { clientIp: '127.0.0.1', hashKey: undefined };

function setHealthy(pool: UpstreamPool, i: number, healthy: boolean) {
  const t = pool.members[i]!.target;
  t.healthy = healthy;
  t.changed();
}
function pickedUrls(pool: UpstreamPool, n = 40): Set<string> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const m = pool.pick(ctx);
    if (typeof m === 'string') throw new Error(m);
    seen.add(m.target.url);
  }
  return seen;
}

test('backups get traffic only when every primary is down', (t) => {
  const reg = registries();
  t.after(() => reg.close());
  const pool = reg.pools
    .apply([upstream('p', [url(0), url(1), { url: url(2), backup: true }])])
    .get('p')!;
  assert.deepEqual([...pickedUrls(pool)].sort(), [url(0), url(1)]);
  setHealthy(pool, 0, false);
  assert.deepEqual([...pickedUrls(pool)], [url(1)]);
  setHealthy(pool, 1, false);
  assert.deepEqual([...pickedUrls(pool)], [url(2)]);
  setHealthy(pool, 0, true);
  assert.deepEqual([...pickedUrls(pool)], [url(0)]);
});

test('draining members get no new picks, in-flight ones finish, and the drain survives an edit of the upstream', (t) => {
  const reg = registries();
  t.after(() => reg.close());
  const spec = (extra = {}) => upstream('p', [url(0), url(1), { url: url(2), draining: true }], extra);
  const pool = reg.pools.apply([spec()]).get('p')!;
  assert.deepEqual([...pickedUrls(pool)].sort(), [url(0), url(1)], 'configured draining honoured');
  const m0 = pool.pick(ctx);
  assert.notEqual(typeof m0, 'string');
  const member = m0 as Exclude<typeof m0, string>;
  pool.begin(member);
  assert.equal(pool.setDraining(member.target.url, true), true);
  assert.equal(pool.setDraining('http://127.0.0.1:1', true), false);
  const left = [url(0), url(1)].filter((u) => u !== member.target.url);
  assert.deepEqual([...pickedUrls(pool)], left);
  assert.equal(healthReport(pool)[member.index]!.state, 'draining');
  assert.equal(member.target.inFlight, 1);
  pool.end(member, { latencyMs: 3, status: 200 });
  assert.equal(member.target.inFlight, 0);

  const edited = reg.pools.apply([spec({ slowStartMs: 5 })]).get('p')!;
  assert.notEqual(edited, pool);
  assert.deepEqual([...pickedUrls(edited)], left, 'admin drain carried into the new pool');
  edited.setDraining(member.target.url, false);
  assert.deepEqual([...pickedUrls(edited)].sort(), [url(0), url(1)]);
});

test('with every target unhealthy the pool says no-healthy-target', (t) => {
  const reg = registries();
  t.after(() => reg.close());
  const pool = reg.pools.apply([upstream('p', [url(0), { url: url(1), backup: true }])]).get('p')!;
  setHealthy(pool, 0, false);
  setHealthy(pool, 1, false);
  assert.equal(pool.pick(ctx), 'no-healthy-target');
  assert.deepEqual(healthReport(pool).map((r) => r.state), ['unhealthy', 'unhealthy']);
});

test('below panicThreshold the pool spreads over every non-draining primary', (t) => {
  const reg = registries();
  t.after(() => reg.close());
  const pool = reg.pools
    .apply([upstream('p', [url(0), url(1), url(2), url(3), { url: url(4), draining: true }], { panicThreshold: 50 })])
    .get('p')!;
  setHealthy(pool, 0, false);
  assert.equal(pickedUrls(pool).size, 3, '75% healthy: no panic');
  setHealthy(pool, 1, false);
  assert.equal(pickedUrls(pool).size, 2, '50% healthy is not below 50%');
  setHealthy(pool, 2, false);
  assert.deepEqual([...pickedUrls(pool)].sort(), [url(0), url(1), url(2), url(3)], '25% healthy: panic, draining still out');
  setHealthy(pool, 3, false);
  assert.equal(pickedUrls(pool).size, 4, 'all down: panic tries them all instead of 503');
});

test('a healthy backup is preferred to panic over dead primaries', (t) => {
  const reg = registries();
  t.after(() => reg.close());
  const pool = reg.pools
    .apply([upstream('p', [url(0), url(1), { url: url(2), backup: true }], { panicThreshold: 50 })])
    .get('p')!;
  setHealthy(pool, 0, false);
  setHealthy(pool, 1, false);
  assert.deepEqual([...pickedUrls(pool)], [url(2)]);
});

test('slow start ramps a recovered target from 10% to its full weight', async (t) => {
  const reg = registries();
  t.after(() => reg.close());
  const pool = reg.pools.apply([upstream('p', [{ url: url(0), weight: 10 }, url(1)], { slowStartMs: 600 })]).get('p')!;
  const member = pool.members[0]!;
  pool.pick(ctx);
  assert.equal(member.effectiveWeight, 10, 'a target that never went away is at full weight');
  setHealthy(pool, 0, false);
  pool.pick(ctx);
  const t0 = Date.now();
  const t_ = member.target;
  t_.healthy = true;
  t_.recoveredAt = t0;
  t_.changed();
  pool.pick(ctx);
  assert.ok(member.effectiveWeight >= 1 && member.effectiveWeight < 2.5, `starts near 10%: ${member.effectiveWeight}`);
  await sleep(300);
  pool.pick(ctx); // the hot path moves the weight on its ~100 ms step
  const mid = member.effectiveWeight;
  const expected = 10 * (0.1 + 0.9 * ((Date.now() - t0) / 600));
  assert.ok(Math.abs(mid - expected) < 2.5, `mid-ramp ${mid}, expected about ${expected}`);
  await sleep(400);
  pool.pick(ctx);
  assert.equal(member.effectiveWeight, 10, 'full weight after slowStartMs');
  assert.equal(healthReport(pool)[0]!.effectiveWeight, 10);
});

test('the health report carries the contract fields and the extras', (t) => {
  const reg = registries();
  t.after(() => reg.close());
  const pool = reg.pools.apply([upstream('p', [url(0), { url: url(1), backup: true, weight: 3 }])]).get('p')!;
  pool.members[0]!.target.ewmaMs = 12.6;
  const [first, second] = healthReport(pool);
  assert.deepEqual(first, {
    url: url(0),
    state: 'healthy',
    inFlight: 0,
    latencyMs: 13,
    lastCheck: null,
    ejections: 0,
    ejectedUntil: null,
    consecutiveFailures: 0,
    backup: false,
    weight: 1,
    effectiveWeight: 1,
  });
  assert.equal(second!.backup, true);
  assert.equal(second!.weight, 3);
});

test('a worker added to a running pool by a reload slow-starts; the ones already serving stay at full weight', async (t) => {
  const reg = registries();
  t.after(() => reg.close());
  const spec = (urls: string[]) => upstream('p', urls.map((u) => ({ url: u, weight: 10 })), { slowStartMs: 600 });
  const first = reg.pools.apply([spec([url(0)])]).get('p')!;
  first.pick(ctx);
  assert.equal(first.members[0]!.effectiveWeight, 10, 'the initial target is not ramped');
  const second = reg.pools.apply([spec([url(0), url(1)])]).get('p')!;
  second.pick(ctx);
  assert.equal(second.members[0]!.effectiveWeight, 10, 'the target that was serving stays warm');
  assert.ok(second.members[1]!.effectiveWeight < 2.5, `the new target starts near 10%: ${second.members[1]!.effectiveWeight}`);
  await sleep(700);
  second.pick(ctx);
  assert.equal(second.members[1]!.effectiveWeight, 10, 'and reaches its full weight');
});
