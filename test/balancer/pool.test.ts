import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALGORITHMS, type Upstream } from '../../spec/upstream.js';
import { TargetRegistry } from '../../gateway/src/balancer/target-registry.js';
import { UpstreamPool } from '../../gateway/src/balancer/upstream-pool.js';

const URLS = [1, 2, 3, 4].map((i) => `http://10.2.0.${i}:8000`);
const spec = (algorithm: Upstream['algorithm'], extra: Partial<Upstream> = {}) =>
  ({
    name: 'pool',
    algorithm,
    targets: URLS.map((url) => ({ url, weight: 1, backup: false })),
    slowStartMs: 0,
    panicThreshold: 0,
    retryBudgetPercent: 20,
    // Scrapes go nowhere (nothing listens): least-queue then balances on in-flight counts.
    loadMetrics: { path: '/metrics', intervalMs: 60_000, staleMs: 5000 },
    ...extra,
  }) as Upstream;

test('every configured algorithm has a picker that serves through the pool and closes with it', async () => {
  const registry = new TargetRegistry();
  for (const algorithm of ALGORITHMS) {
    const pool = new UpstreamPool(spec(algorithm, { hashOn: { source: 'header', name: 'x-k' } }), registry);
    const seen = new Set<string>();
    for (let i = 0; i < 400; i++) {
      const m = pool.pick({ clientIp: `198.51.100.${i % 250}`, hashKey: `k${i}` });
      assert.notEqual(typeof m, 'string', algorithm);
      if (typeof m === 'string') continue;
      seen.add(m.target.url);
      pool.begin(m);
      pool.end(m, { latencyMs: 5, status: 200 });
    }
    assert.equal(seen.size, URLS.length, `${algorithm} reached ${[...seen]}`);
    pool.close();
  }
  await registry.close();
});

test('through the pool, a consistent-hash target going unhealthy moves only its own keys', async () => {
  const registry = new TargetRegistry();
  const pool = new UpstreamPool(spec('consistent-hash', { hashOn: { source: 'header', name: 'x-session-id' } }), registry);
  const keys = Array.from({ length: 2000 }, (_, i) => `conversation-${i}`);
  const where = () =>
    keys.map((k) => {
      const m = pool.pick({ clientIp: '192.0.2.1', hashKey: k });
      return typeof m === 'string' ? m : m.target.url;
    });
  const before = where();
  const down = pool.members[1]!.target;
  down.healthy = false;
  down.changed();
  const during = where();
  for (let i = 0; i < keys.length; i++) {
    if (before[i] === down.url) assert.notEqual(during[i], down.url);
    else assert.equal(during[i], before[i]);
  }
  down.healthy = true;
  down.changed();
  assert.deepEqual(where(), before);
  pool.close();
  await registry.close();
});
