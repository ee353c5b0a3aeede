import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { request } from 'undici';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { healthReport } from '../../gateway/src/health/health-report.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';

/** Send n requests one after another; count answers by worker and by status. */
async function send(gw: TestGateway, n: number, path = '/echo/x') {
  const byWorker: Record<string, number> = {};
  const byStatus: Record<number, number> = {};
  for (let i = 0; i < n; i++) {
    const res = await request(`${gw.url}${path}`);
    await res.body.dump();
    byStatus[res.statusCode] = (byStatus[res.statusCode] ?? 0) + 1;
    const w = res.headers['x-worker'] as string | undefined;
    if (w) byWorker[w] = (byWorker[w] ?? 0) + 1;
  }
  return { byWorker, byStatus };
}

const route = { name: 'r', methods: ['GET', 'POST'], paths: ['/echo/*', '/v1/*'], upstream: 'pool' };
const cleanup: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function workers(names: string[]): Promise<GpuWorker[]> {
  const ws = await Promise.all(names.map((name) => startGpuWorker({ name })));
  cleanup.push(async () => void (await Promise.all(ws.map((w) => w.close()))));
  return ws;
}

async function gateway(config: unknown): Promise<TestGateway> {
  const gw = await startGateway(config);
  cleanup.push(() => gw.close());
  return gw;
}

describe('active health checks through the gateway', () => {
  test('a target whose /health fails is out within interval × unhealthyThreshold and back after recovery', async () => {
    const [w1, w2] = await workers(['w1', 'w2']);
    const active = { type: 'http', path: '/health', intervalMs: 150, timeoutMs: 100, healthyThreshold: 2, unhealthyThreshold: 2 };
    const gw = await gateway({
      upstreams: [{ name: 'pool', targets: [{ url: w1!.url }, { url: w2!.url }], healthCheck: { active } }],
      routes: [route],
      consumers: [],
    });
    const pool = gw.node.upstreams.get('pool')!;
    const sick = Date.now();
    w2!.set({ unhealthy: true });
    await waitFor(() => healthReport(pool)[1]!.state === 'unhealthy', 3000, 'w2 to be marked unhealthy');
    const outAfter = Date.now() - sick;
    // interval × threshold = 300 ms, plus jitter, probe time and a busy machine.
    assert.ok(outAfter < 150 * 2 + 700, `out after ${outAfter} ms`);
    const during = await send(gw, 20);
    assert.deepEqual(during.byWorker, { w1: 20 });
    w2!.set({ unhealthy: false });
    await waitFor(() => healthReport(pool)[1]!.state === 'healthy', 3000, 'w2 to recover');
    const afterwards = await send(gw, 20);
    assert.equal(afterwards.byWorker.w2, 10);
  });

  test('backups take over only when every primary is down, and give the work back', async () => {
    const [p1, p2, backup] = await workers(['p1', 'p2', 'backup']);
    const active = { type: 'tcp', intervalMs: 100, timeoutMs: 100, healthyThreshold: 1, unhealthyThreshold: 1 };
    const gw = await gateway({
      upstreams: [
        {
          name: 'pool',
          targets: [{ url: p1!.url }, { url: p2!.url }, { url: backup!.url, backup: true }],
          healthCheck: { active },
        },
      ],
      routes: [route],
      consumers: [],
    });
    assert.equal((await send(gw, 10)).byWorker.backup, undefined, 'backup idle while primaries are up');
    await p1!.kill();
    await waitFor(() => healthReport(gw.node.upstreams.get('pool')!)[0]!.state === 'unhealthy', 3000, 'p1 down');
    assert.deepEqual((await send(gw, 10)).byWorker, { p2: 10 }, 'one primary left: still no backup');
    await p2!.kill();
    await waitFor(() => healthReport(gw.node.upstreams.get('pool')!)[1]!.state === 'unhealthy', 3000, 'p2 down');
    assert.deepEqual((await send(gw, 10)).byWorker, { backup: 10 });
    await p1!.revive();
    await waitFor(() => healthReport(gw.node.upstreams.get('pool')!)[0]!.state === 'healthy', 3000, 'p1 back');
    assert.deepEqual((await send(gw, 10)).byWorker, { p1: 10 });
  });

  test('every target unhealthy → 503 problem+json at once, with Retry-After', async () => {
    const [w] = await workers(['lonely']);
    const active = { type: 'http', path: '/health', intervalMs: 100, timeoutMs: 100, healthyThreshold: 1, unhealthyThreshold: 1 };
    const gw = await gateway({ upstreams: [{ name: 'pool', targets: [{ url: w!.url }], healthCheck: { active } }], routes: [route], consumers: [] });
    w!.set({ unhealthy: true });
    await waitFor(() => healthReport(gw.node.upstreams.get('pool')!)[0]!.state === 'unhealthy', 3000, 'down');
    const started = performance.now();
    const res = await request(`${gw.url}/echo/x`);
    const took = performance.now() - started;
    assert.equal(res.statusCode, 503);
    assert.match(res.headers['content-type'] as string, /problem\+json/);
    assert.ok(res.headers['retry-after']);
    await res.body.dump();
    assert.ok(took < 200, `answered in ${took.toFixed(1)} ms`);
    assert.equal(w!.stats().requests, 0, 'nothing was sent to the sick worker');
  });
});

describe('passive health checks through the gateway', () => {
  test('a refused connection ejects the target passively, with zero client errors', async () => {
    const [w1, w2, w3] = await workers(['w1', 'w2', 'w3']);
    const passive = { consecutiveFailures: 2, ejectMs: 5000, maxEjectionPercent: 50 };
    const gw = await gateway({
      upstreams: [{ name: 'pool', targets: [{ url: w1!.url }, { url: w2!.url }, { url: w3!.url }], healthCheck: { passive } }],
      routes: [route],
      consumers: [],
    });
    await w3!.kill();
    const result = await send(gw, 30);
    assert.deepEqual(result.byStatus, { 200: 30 }, 'every client request succeeded');
    const report = healthReport(gw.node.upstreams.get('pool')!);
    assert.equal(report[2]!.state, 'unhealthy');
    assert.ok(report[2]!.ejectedUntil, 'w3 is ejected');
    assert.equal(report[2]!.ejections, 1);
    // Once ejected, nothing more is tried on it: only the first two requests touched it.
    const more = await send(gw, 20);
    assert.deepEqual(Object.keys(more.byWorker).sort(), ['w1', 'w2']);
  });

  test('5xx answers count too: a worker failing every request is ejected after consecutiveFailures', async () => {
    const [good, bad] = await workers(['good', 'bad']);
    bad!.set({ failRate: 1 });
    const passive = { consecutiveFailures: 3, ejectMs: 5000, maxEjectionPercent: 50 };
    const gw = await gateway({
      upstreams: [{ name: 'pool', targets: [{ url: good!.url }, { url: bad!.url }], healthCheck: { passive } }],
      routes: [route],
      consumers: [],
    });
    // 500 is the worker's own answer and passes through (only 502/503/504 are retried), but
    // no more than `consecutiveFailures` of them before the worker is out.
    const result = await send(gw, 20);
    assert.equal(result.byStatus[500], 3);
    assert.ok(healthReport(gw.node.upstreams.get('pool')!)[1]!.ejectedUntil, 'bad is ejected');
    assert.deepEqual((await send(gw, 20)).byStatus, { 200: 20 });
  });
});

describe('draining', () => {
  test('a draining target finishes its in-flight requests and takes no new work', async () => {
    const [w1, w2] = await workers(['w1', 'w2']);
    w1!.set({ speed: 1 });
    const gw = await gateway({ upstreams: [{ name: 'pool', targets: [{ url: w1!.url }, { url: w2!.url }] }], routes: [route], consumers: [] });
    // A long streamed completion lands on w1 (round robin starts there).
    const long = await request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [], stream: true, max_tokens: 60 }),
    });
    assert.equal(long.headers['x-worker'], 'w1');
    gw.node.upstreams.get('pool')!.setDraining(w1!.url, true);
    assert.equal(healthReport(gw.node.upstreams.get('pool')!)[0]!.state, 'draining');
    const during = await send(gw, 10);
    assert.deepEqual(during.byWorker, { w2: 10 });
    const text = await long.body.text();
    assert.match(text, /\[DONE\]/, 'the in-flight stream finished');
  });
});
