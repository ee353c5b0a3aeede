import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';

/**
 * Flow control through a real gateway in front of simulated GPU workers: the gateway caps each
 * worker at its slot count (maxConnections) and queues the rest itself, releasing by fair share.
 */

// Two workers of 8 slots, 450 ms a request on average (90 ms prefill + 8 tokens × 45 ms): 35 requests/s,
// so A's 3× is ≈ 107 requests/s — little enough for a loaded test machine to drive.
const SLOTS = 8;
const SERVICE_MS = 450;
const CAPACITY = (2 * SLOTS * 1000) / SERVICE_MS;

let gpus: GpuWorker[];
let single: GpuWorker;
let gw: TestGateway;
const keys: Record<string, string> = {};
const agent = new Agent({ connections: 512 });

before(async () => {
  gpus = await Promise.all([1, 2].map((n) => startGpuWorker({ name: `gpu${n}`, slots: SLOTS, prefillMs: 90, tokenMs: 45 })));
  single = await startGpuWorker({ name: 'single', slots: 1, prefillMs: 20, tokenMs: 20 });
  const route = (name: string, path: string, upstream: string) => ({ name, methods: ['POST'], paths: [path], upstream, auth: 'api-key' });
  gw = await startGateway({
    upstreams: [
      {
        name: 'gpus',
        algorithm: 'least-connections',
        targets: gpus.map((g) => ({ url: g.url, maxConnections: SLOTS })),
        queue: { maxSize: 16, timeoutMs: 1000 },
      },
      { name: 'one', targets: [{ url: single.url, maxConnections: 1 }], queue: { maxSize: 10, timeoutMs: 3000 } },
      { name: 'tight', targets: [{ url: single.url, maxConnections: 1 }], queue: { maxSize: 10, timeoutMs: 150 } },
    ],
    routes: [route('chat', '/v1/chat/completions', 'gpus'), route('one', '/one/v1/chat/completions', 'one'), route('tight', '/tight/v1/chat/completions', 'tight')].map((r) =>
      r.name === 'chat' ? r : { ...r, stripPrefix: `/${r.name}` },
    ),
    consumers: [{ name: 'A' }, { name: 'B' }, { name: 'batch', priority: 0 }, { name: 'vip', priority: 5 }],
  });
  for (const name of ['A', 'B', 'batch', 'vip']) keys[name] = (await issueKey(gw.store, name, { actor: 'test' })).key;
  await waitFor(async () => (await chat('/v1/chat/completions', 'A', 1)).status === 200, 5000, 'keys in force');
});
after(async () => {
  await gw.close();
  await agent.close();
  await Promise.all([...gpus, single].map((g) => g.close()));
});

interface Answer {
  status: number;
  ms: number;
  retryAfter: string | undefined;
  type: string | undefined;
  error?: string;
}

async function chat(path: string, consumer: string, maxTokens = 8, signal?: AbortSignal): Promise<Answer> {
  const started = performance.now();
  try {
    const res = await request(`${gw.url}${path}`, {
      method: 'POST',
      dispatcher: agent,
      signal,
      headers: { 'content-type': 'application/json', 'x-api-key': keys[consumer]! },
      body: JSON.stringify({ model: 'sim-llm', max_tokens: maxTokens, messages: [{ role: 'user', content: `hello from ${consumer}` }] }),
    });
    const text = await res.body.text();
    const type = res.statusCode >= 400 ? (JSON.parse(text) as { type?: string }).type : undefined;
    const retryAfter = res.headers['retry-after'];
    return { status: res.statusCode, ms: performance.now() - started, retryAfter: typeof retryAfter === 'string' ? retryAfter : undefined, type };
  } catch (err) {
    return { status: 0, ms: performance.now() - started, retryAfter: undefined, type: undefined, error: (err as Error).message };
  }
}

/** Open-loop sender: one request every 1000/rate ms for `seconds`, each answer recorded. */
async function send(consumer: string, rate: number, seconds: number): Promise<Answer[]> {
  const count = Math.round(rate * seconds);
  const gap = 1000 / rate;
  const start = performance.now();
  const pending: Promise<Answer>[] = [];
  for (let i = 0; i < count; i++) {
    const due = start + i * gap - performance.now();
    if (due > 1) await new Promise((r) => setTimeout(r, due));
    // Answers of different lengths (2..14 tokens, mean 8), as real generations have: with one
    // length for all, the slots filled by a burst would all free at once, in waves.
    pending.push(chat('/v1/chat/completions', consumer, 2 + ((i * 7) % 13)));
  }
  return Promise.all(pending);
}

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

test('with A at 3× capacity and B at 20 %, B keeps its p99 within 1.5× of B alone; A’s excess is queued, then refused 503 + Retry-After; every request is answered', async () => {
  const seconds = 7;
  const alone = await send('B', 0.2 * CAPACITY, seconds);
  assert.ok(alone.every((a) => a.status === 200), `B alone: ${JSON.stringify(alone.filter((a) => a.status !== 200).slice(0, 3))}`);

  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const cpu0 = process.cpuUsage();
  const [a, b] = await Promise.all([send('A', 3 * CAPACITY, seconds), send('B', 0.2 * CAPACITY, seconds)]);
  // Nothing lost: every request sent has an answer with a status, none cut or timed out.
  assert.equal(a.length + b.length, Math.round(3 * CAPACITY * seconds) + Math.round(0.2 * CAPACITY * seconds));
  const cut = [...a, ...b].filter((x) => x.status === 0);
  assert.equal(cut.length, 0, `requests without an answer: ${JSON.stringify(cut.slice(0, 3))}`);
  assert.ok(b.every((x) => x.status === 200), `B refused: ${JSON.stringify(b.filter((x) => x.status !== 200).slice(0, 3))}`);

  const bAlone = p99(alone.map((x) => x.ms));
  const bShared = p99(b.map((x) => x.ms));
  lag.disable();
  if (process.env.FLOW_DEBUG) console.log(JSON.stringify({ lagP99: lag.percentile(99) / 1e6, lagMax: lag.max / 1e6, cpu: process.cpuUsage(cpu0),  b: b.map((x) => Math.round(x.ms)), peak: gpus.map((g) => g.stats().peakWaiting), flows: [...gw.node.upstreams.get('gpus')!.queue!.flows()] }));
  assert.ok(bShared <= 1.5 * bAlone, `B's p99 ${bShared.toFixed(0)} ms beside A, ${bAlone.toFixed(0)} ms alone`);

  const refused = a.filter((x) => x.status === 503);
  const served = a.filter((x) => x.status === 200);
  assert.equal(refused.length + served.length, a.length, 'A gets 200 or 503, nothing else');
  assert.ok(refused.length > a.length / 3, `A's excess refused: ${refused.length} of ${a.length}`);
  for (const r of refused) {
    assert.ok(r.retryAfter !== undefined && Number(r.retryAfter) >= 1, 'Retry-After on every refusal');
    assert.ok(r.type === 'urn:switchboard:problem:queue-full' || r.type === 'urn:switchboard:problem:queue-timeout', `refusal type ${r.type}`);
  }
  // A's requests did wait in the gateway's queue (served after a wait) rather than only bouncing.
  const flows = gw.node.upstreams.get('gpus')!.queue!.flows();
  assert.ok(flows.get('A')!.released > 0, 'some of A waited and was served');
  const aFlow = flows.get('A')!;
  assert.ok(aFlow.waitSeconds / (aFlow.released + aFlow.refusedFull) > 0.05, `A's queued requests waited ${aFlow.waitSeconds.toFixed(1)} s in all`);
  // The workers never queued: the gateway held the excess without a socket to them.
  for (const g of gpus) assert.equal(g.stats().peakWaiting, 0, `${g.name} queued requests itself`);
  assert.equal(gw.node.upstreams.get('gpus')!.queue!.size, 0);
});

test('strict priority: a queued request of a higher-priority consumer goes before earlier ones of a lower priority', async () => {
  const order: string[] = [];
  const track = (label: string, consumer: string) => chat('/one/v1/chat/completions', consumer, 4).then((a) => (order.push(label), a));
  const busy = track('busy', 'batch');
  await waitFor(() => single.stats().running === 1, 2000, 'the slot taken');
  const low1 = track('low1', 'batch');
  const low2 = track('low2', 'batch');
  await waitFor(() => gw.node.upstreams.get('one')!.queue!.size === 2, 2000, 'two low waiting');
  const high = track('high', 'vip');
  const answers = await Promise.all([busy, low1, low2, high]);
  assert.ok(answers.every((a) => a.status === 200));
  assert.deepEqual(order, ['busy', 'high', 'low1', 'low2']);
});

test('a request that waits past the queue’s timeoutMs gets 503 queue-timeout with Retry-After, without reaching the worker', async () => {
  const before = single.stats().requests;
  const busy = chat('/tight/v1/chat/completions', 'batch', 30);
  await waitFor(() => single.stats().running === 1, 2000, 'the slot taken');
  const late = await chat('/tight/v1/chat/completions', 'batch', 1);
  assert.equal(late.status, 503);
  assert.equal(late.type, 'urn:switchboard:problem:queue-timeout');
  assert.equal(late.retryAfter, '1');
  assert.ok(late.ms >= 140 && late.ms < 550, `refused after ${late.ms.toFixed(0)} ms`);
  assert.equal((await busy).status, 200);
  assert.equal(single.stats().requests, before + 1, 'the refused request never reached the worker');
});

test('a client that disconnects while queued leaves the queue, and the freed slot goes to the next waiter', async () => {
  const pool = gw.node.upstreams.get('one')!;
  const cancelledBefore = pool.queue!.flows().get('batch')?.cancelled ?? 0;
  const requestsBefore = single.stats().requests;
  const busy = chat('/one/v1/chat/completions', 'batch', 10);
  await waitFor(() => single.stats().running === 1, 2000, 'the slot taken');
  const abort = new AbortController();
  const leaving = chat('/one/v1/chat/completions', 'batch', 1, abort.signal);
  await waitFor(() => pool.queue!.size === 1, 2000, 'one waiting');
  const staying = chat('/one/v1/chat/completions', 'vip', 1);
  await waitFor(() => pool.queue!.size === 2, 2000, 'two waiting');
  abort.abort();
  await waitFor(() => pool.queue!.size === 1, 2000, 'the leaver gone from the queue');
  assert.equal((await leaving).status, 0, 'the aborted request ends on the client side');
  assert.equal(pool.queue!.flows().get('batch')!.cancelled, cancelledBefore + 1);
  assert.equal((await busy).status, 200);
  assert.equal((await staying).status, 200);
  assert.equal(single.stats().requests, requestsBefore + 2, 'the worker saw the busy request and the one that stayed, not the leaver');
  assert.equal(pool.queue!.size, 0);
});
