import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { createLeastQueuePicker } from '../../gateway/src/balancer/least-queue.js';
import { DEFAULT_CACHE_USAGE, DEFAULT_RUNNING, DEFAULT_WAITING, parseLoad } from '../../gateway/src/balancer/load-scraper.js';
import { xorshift32 } from '../../gateway/src/balancer/prng.js';
import { ctx, members, tally, upstream } from './fixtures.js';

const NAMES = { waiting: DEFAULT_WAITING, running: DEFAULT_RUNNING, cacheUsage: DEFAULT_CACHE_USAGE };

function vllmMetrics(waiting: number, running: number, cache: number): string {
  // Two engines / models: the picker must sum series across labels.
  return [
    '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.',
    '# TYPE vllm:num_requests_waiting gauge',
    `vllm:num_requests_waiting{engine="0",model_name="llama 3 {8b}"} ${waiting - 1}`,
    `vllm:num_requests_waiting{engine="1",model_name="say \\"hi\\""} 1`,
    '# TYPE vllm:num_requests_running gauge',
    `vllm:num_requests_running{engine="0",model_name="m"} ${running}`,
    `vllm:kv_cache_usage_perc{engine="0",model_name="m"} ${cache}`,
    'vllm:num_requests_waiting_total_bogus 999',
    'vllm:request_success_total{finished_reason="stop"} 12345 1712345678000',
    '',
  ].join('\n');
}

async function metricsServer(body: () => string): Promise<{ url: string; hits: number; server: Server }> {
  const s = { url: '', hits: 0, server: undefined as unknown as Server };
  s.server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    s.hits++;
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body());
  });
  await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
  s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
  return s;
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting for ${what}`);
}

test('Prometheus text: series are summed across labels, other metrics and timestamps are ignored', () => {
  assert.deepEqual(parseLoad(vllmMetrics(7, 3, 0.42), NAMES), { waiting: 7, running: 3, cacheUsage: 0.42 });
  assert.deepEqual(parseLoad('tgi_queue_size 4\ntgi_batch_current_size 2\n', NAMES), { waiting: 4, running: 2, cacheUsage: 0 });
  assert.deepEqual(parseLoad('nv_inference_pending_request_count{model="a",version="1"} 2\r\nnv_inference_pending_request_count{model="b",version="1"} 3\r\n', NAMES), {
    waiting: 5,
    running: 0,
    cacheUsage: 0,
  });
  assert.deepEqual(parseLoad('sglang:num_queue_reqs{x="1"} 6\nsglang:num_running_reqs{x="1"} 1\nsglang:token_usage 0.5\n', NAMES), { waiting: 6, running: 1, cacheUsage: 0.5 });
  // Older vLLM: gpu_cache_usage_perc when kv_cache_usage_perc is absent.
  assert.equal(parseLoad('vllm:num_requests_waiting 0\nvllm:gpu_cache_usage_perc 0.97\n', NAMES)!.cacheUsage, 0.97);
  // Not a model server: no verdict rather than "idle".
  assert.equal(parseLoad('process_cpu_seconds_total 12\n', NAMES), undefined);
  // Configured names win.
  assert.deepEqual(parseLoad('my_queue 9\nmy_busy 1\n', { waiting: ['my_queue'], running: ['my_busy'], cacheUsage: [] }), { waiting: 9, running: 1, cacheUsage: 0 });
});

test('the scraper reads a real vLLM-style /metrics and least-queue sends work to the idle server until it catches up', async (t) => {
  const busy = await metricsServer(() => vllmMetrics(10, 8, 0.5));
  const idle = await metricsServer(() => vllmMetrics(1, 0, 0.1));
  const pool = members([1, 1], [busy.url, idle.url]);
  const picker = createLeastQueuePicker(
    { members: pool, upstream: upstream('least-queue', pool, { loadMetrics: { path: '/metrics', intervalMs: 60_000, staleMs: 60_000 } }) },
    { random: xorshift32(5) },
  );
  t.after(() => {
    picker.close();
    busy.server.close();
    idle.server.close();
  });
  await until(() => pool[0]!.target.load !== undefined && pool[1]!.target.load !== undefined, 'first scrape');
  assert.deepEqual({ ...pool[0]!.target.load, at: 0 }, { waiting: 10, running: 8, cacheUsage: 0.5, at: 0 });
  assert.equal(pool[1]!.target.load!.waiting + pool[1]!.target.load!.running, 1);
  // busy scores 18, idle 1: idle takes picks until its dispatches since the scrape bring it near 18.
  const counts = tally(picker, pool, 16);
  assert.deepEqual(counts, [0, 16]);
  assert.equal(picker.dispatchedSinceScrape(pool[1]!), 16);
  const more = tally(picker, pool, 40);
  assert.ok(more[0]! > 10 && more[1]! > 10, `between scrapes the counter evens things out: ${more}`);
});

test('requests started after the scrape count until they finish; older ones are already in the report', () => {
  const pool = members([1]);
  const clock = { now: 1000 };
  const picker = createLeastQueuePicker({ members: pool, upstream: upstream('least-queue', pool) }, { scrape: false, now: () => clock.now });
  pool[0]!.target.load = { waiting: 0, running: 1, cacheUsage: 0, at: clock.now };
  picker.pick(pool, ctx());
  clock.now += 5;
  picker.scraped(pool[0]!);
  clock.now += 5;
  picker.pick(pool, ctx());
  picker.pick(pool, ctx());
  assert.equal(picker.dispatchedSinceScrape(pool[0]!), 2);
  clock.now += 90;
  // Started at 1000, before the scrape: the scrape already counted it.
  picker.observe!(pool[0]!, 100, true);
  assert.equal(picker.dispatchedSinceScrape(pool[0]!), 2);
  // Started at 1010, after the scrape.
  picker.observe!(pool[0]!, 90, true);
  assert.equal(picker.dispatchedSinceScrape(pool[0]!), 1);
});

test('closing the picker stops its scraper', async () => {
  const s = await metricsServer(() => vllmMetrics(1, 1, 0));
  const pool = members([1], [s.url]);
  const picker = createLeastQueuePicker({ members: pool, upstream: upstream('least-queue', pool, { loadMetrics: { path: '/metrics', intervalMs: 100, staleMs: 1000 } }) });
  await until(() => s.hits >= 2, 'two scrapes');
  picker.close();
  await new Promise((r) => setTimeout(r, 50));
  const hits = s.hits;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(s.hits, hits);
  s.server.close();
});

test('a target whose load is stale counts as saturated; with every load stale the picker falls back to least-connections', () => {
  const pool = members([1, 1, 1]);
  const clock = { now: 100_000 };
  const picker = createLeastQueuePicker(
    { members: pool, upstream: upstream('least-queue', pool, { loadMetrics: { path: '/metrics', intervalMs: 1000, staleMs: 5000 } }) },
    { scrape: false, now: () => clock.now, random: xorshift32(11) },
  );
  // Target 0 reported an empty queue, but 6 s ago: it may be hung. The others are busier but fresh.
  pool[0]!.target.load = { waiting: 0, running: 0, cacheUsage: 0, at: clock.now - 6000 };
  pool[1]!.target.load = { waiting: 30, running: 8, cacheUsage: 0.2, at: clock.now - 500 };
  pool[2]!.target.load = { waiting: 30, running: 8, cacheUsage: 0.2, at: clock.now - 500 };
  const counts = tally(picker, pool, 200);
  assert.equal(counts[0], 0);
  assert.ok(counts[1]! > 60 && counts[2]! > 60, `counts ${counts}`);

  // Everything stale: least-connections on the gateway's own in-flight counts.
  for (const m of pool) m.target.load = { waiting: 0, running: 0, cacheUsage: 0, at: clock.now - 60_000 };
  pool[0]!.target.inFlight = 9;
  pool[1]!.target.inFlight = 0;
  pool[2]!.target.inFlight = 9;
  assert.deepEqual(tally(picker, pool, 20), [0, 20, 0]);
});

test('a nearly full KV cache makes a worker look busier', () => {
  const pool = members([1, 1]);
  const clock = { now: 10_000 };
  const picker = createLeastQueuePicker(
    { members: pool, upstream: upstream('least-queue', pool) },
    { scrape: false, now: () => clock.now, random: xorshift32(2) },
  );
  pool[0]!.target.load = { waiting: 0, running: 2, cacheUsage: 0.99, at: clock.now };
  pool[1]!.target.load = { waiting: 0, running: 3, cacheUsage: 0.3, at: clock.now };
  assert.equal(picker.pick(pool, ctx()).index, 1);
});
