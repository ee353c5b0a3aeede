import { test } from 'node:test';
import assert from 'node:assert/strict';
import { healthReport } from '../../gateway/src/health/health-report.js';
import { active, closedPort, healthServer, checkedRegistries, sleep, upstream, waitFor } from './fixtures.js';

test('a target whose /health starts answering 500 is out within interval × unhealthyThreshold and back after healthyThreshold passes', async (t) => {
  const worker = await healthServer(200);
  const other = await healthServer(200);
  const { reg } = checkedRegistries(t, {}, async () => {
    await worker.close();
    await other.close();
  });
  const pool = reg.pools.apply([upstream('llm', [worker.url, other.url], { healthCheck: { active: active() } })]).get('llm')!;
  const state = pool.members[0]!.target;
  await waitFor(() => state.lastCheck !== undefined, 2000, 'first probe');
  assert.equal(state.healthy, true);
  assert.equal(state.lastCheck!.ok, true);

  worker.status = 500;
  // 2 failing probes at ~100 ms (±10%) plus a probe already in flight: ~330 ms; margin for a busy box.
  const outAfter = await waitFor(() => !state.healthy, 3000, 'unhealthy');
  assert.ok(outAfter < 1500, `went out after ${outAfter} ms`);
  assert.equal(state.lastCheck!.ok, false);
  assert.match(state.lastCheck!.detail, /HTTP 500/);
  assert.deepEqual(pool.eligibleMembers().map((m) => m.target.url), [other.url]);
  assert.equal(healthReport(pool)[0]!.state, 'unhealthy');

  const before = Date.now();
  worker.status = 200;
  const backAfter = await waitFor(() => state.healthy, 3000, 'healthy again');
  assert.ok(backAfter < 1500, `came back after ${backAfter} ms`);
  assert.ok(state.recoveredAt >= before, 'recovery time recorded for slow start');
  assert.equal(pool.eligibleMembers().length, 2);
});

test('a single failing probe does not flip a target (hysteresis)', async (t) => {
  const worker = await healthServer(200);
  const { reg } = checkedRegistries(t, {}, async () => {
    await worker.close();
  });
  const pool = reg.pools.apply([upstream('llm', [worker.url], { healthCheck: { active: active({ unhealthyThreshold: 3 }) } })]).get('llm')!;
  const state = pool.members[0]!.target;
  let flips = 0;
  state.on('change', () => flips++);
  await waitFor(() => state.lastCheck?.ok === true, 2000, 'first probe');
  // Fail exactly one probe, then recover.
  const seen = worker.probes;
  worker.status = 500;
  await waitFor(() => worker.probes > seen, 2000, 'one failing probe');
  worker.status = 200;
  await waitFor(() => worker.probes > seen + 2, 2000, 'more probes');
  assert.equal(state.healthy, true);
  assert.equal(flips, 0);
});

test('the tcp check detects a closed port and an open one', async (t) => {
  const open = await healthServer(200);
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const { reg } = checkedRegistries(t, {}, async () => {
    await open.close();
  });
  const pool = reg.pools.apply([upstream('tcp', [open.url, dead], { healthCheck: { active: active({ type: 'tcp' }) } })]).get('tcp')!;
  const [up, down] = pool.members.map((m) => m.target);
  await waitFor(() => !down!.healthy, 3000, 'closed port marked unhealthy');
  assert.match(down!.lastCheck!.detail, /refused/);
  assert.equal(up!.healthy, true);
  assert.equal(up!.lastCheck!.ok, true);
  assert.equal(open.probes, 0, 'a tcp check sends no HTTP request');
});

test('two pools over one worker share one probe loop', async (t) => {
  const worker = await healthServer(200);
  const { reg, checker } = checkedRegistries(t, {}, async () => {
    await worker.close();
  });
  reg.pools.apply([
    upstream('a', [worker.url], { healthCheck: { active: active({ intervalMs: 200 }) } }),
    upstream('b', [worker.url], { healthCheck: { active: active({ intervalMs: 100 }) } }),
  ]);
  assert.equal(checker.size, 1);
  await sleep(50);
  const start = worker.probes;
  await sleep(1000);
  const probes = worker.probes - start;
  // One loop at the shortest interval (100 ms ±10%) makes ~10; two loops would make ~15, at 100 ms each ~20.
  assert.ok(probes >= 5 && probes <= 12, `${probes} probes in 1 s`);
  assert.equal(checker.runsFor(worker.url) >= probes, true);
});

test('the verdict survives a reload that changes the upstream, and checks stop when no pool needs them', async (t) => {
  const worker = await healthServer(500);
  const { reg, checker } = checkedRegistries(t, {}, async () => {
    await worker.close();
  });
  const spec = (interval: number, extra = {}) =>
    upstream('llm', [worker.url], { healthCheck: { active: active({ intervalMs: interval }) }, ...extra });
  const first = reg.pools.apply([spec(100)]).get('llm')!;
  const state = first.members[0]!.target;
  await waitFor(() => !state.healthy, 3000, 'unhealthy');

  // A changed upstream (new interval, new algorithm field) builds a new pool over the same target.
  const second = reg.pools.apply([spec(150, { panicThreshold: 0, slowStartMs: 10 })]).get('llm')!;
  assert.notEqual(second, first);
  assert.equal(second.members[0]!.target, state, 'same shared state');
  assert.equal(state.healthy, false, 'still unhealthy after the reload');
  assert.equal(checker.size, 1);
  assert.equal(second.pick({ clientIp: '127.0.0.1', hashKey: undefined }), 'no-healthy-target');

  // Same target, active check removed: nobody checks it, so it is healthy again.
  reg.pools.apply([upstream('llm', [worker.url])]);
  assert.equal(checker.size, 0);
  assert.equal(state.healthy, true);
  const probes = worker.probes;
  await sleep(400);
  assert.equal(worker.probes, probes, 'no probes after the check stopped');
});

test('initialState "unhealthy" keeps a new target out until its first passing probe', async (t) => {
  const worker = await healthServer(200);
  const { reg } = checkedRegistries(t, { initialState: 'unhealthy' }, async () => {
    await worker.close();
  });
  const pool = reg.pools.apply([upstream('llm', [worker.url], { healthCheck: { active: active({ healthyThreshold: 3 }) } })]).get('llm')!;
  assert.equal(pool.pick({ clientIp: '127.0.0.1', hashKey: undefined }), 'no-healthy-target');
  await waitFor(() => pool.members[0]!.target.healthy, 2000, 'admitted');
  assert.equal(worker.probes, 1, 'one passing probe admits an unknown target');
});

test('a probe that hangs past timeoutMs counts as a failure', async (t) => {
  const { createServer } = await import('node:http');
  const server = createServer(() => {}); // never answers
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}`;
  const { reg } = checkedRegistries(t, {}, async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  const pool = reg.pools.apply([upstream('llm', [url], { healthCheck: { active: active({ timeoutMs: 150 }) } })]).get('llm')!;
  const state = pool.members[0]!.target;
  await waitFor(() => !state.healthy, 4000, 'unhealthy by timeout');
  assert.match(state.lastCheck!.detail, /timeout after 150 ms/);
});
