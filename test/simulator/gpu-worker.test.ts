import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { type GpuWorker, type GpuWorkerOptions, startGpuWorker } from '../../gateway/src/simulator/gpu-worker.js';

// Timing assertions use ratios and margins of at least 40% of the expected interval: the test
// machines are shared 2-core boxes where a timer can fire tens of milliseconds late.

async function worker(t: TestContext, options: GpuWorkerOptions = {}): Promise<GpuWorker> {
  const started = await startGpuWorker({ name: 'w-test', ...options });
  t.after(() => started.close());
  return started;
}

function chat(w: GpuWorker, body: object, signal?: AbortSignal): Promise<Response> {
  const init: RequestInit = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  if (signal !== undefined) init.signal = signal;
  return fetch(`${w.url}/v1/chat/completions`, init);
}

/** Sends a non-streamed chat request and resolves with its latency once the body is read. */
async function timedChat(w: GpuWorker, maxTokens: number): Promise<{ ms: number; endedAt: number }> {
  const startedAt = performance.now();
  const response = await chat(w, { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: maxTokens });
  assert.equal(response.status, 200);
  await response.json();
  const endedAt = performance.now();
  return { ms: endedAt - startedAt, endedAt };
}

async function metric(w: GpuWorker, name: string): Promise<number> {
  const text = await (await fetch(`${w.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  assert.ok(line, `metric ${name} missing`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

test('a chat completion has the OpenAI shape and max_tokens decides its length', async (t) => {
  const w = await worker(t, { model: 'llama-sim', prefillMs: 1, tokenMs: 1 });
  const response = await chat(w, { model: 'llama-sim', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 7 });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-worker'), 'w-test');
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  const body = (await response.json()) as any;
  assert.match(body.id, /^chatcmpl-/);
  assert.equal(body.object, 'chat.completion');
  assert.equal(typeof body.created, 'number');
  assert.equal(body.model, 'llama-sim');
  assert.equal(body.choices.length, 1);
  assert.equal(body.choices[0].message.role, 'assistant');
  assert.equal(body.choices[0].message.content.split(' ').length, 7);
  assert.equal(body.choices[0].finish_reason, 'length');
  assert.equal(body.usage.completion_tokens, 7);
  assert.equal(body.usage.total_tokens, body.usage.prompt_tokens + 7);
});

test('a text completion has the OpenAI shape and defaults to defaultMaxTokens', async (t) => {
  const w = await worker(t, { prefillMs: 1, tokenMs: 1, defaultMaxTokens: 4 });
  const response = await fetch(`${w.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'Once' }) });
  assert.equal(response.status, 200);
  const body = (await response.json()) as any;
  assert.match(body.id, /^cmpl-/);
  assert.equal(body.object, 'text_completion');
  assert.equal(body.choices[0].text.split(' ').length, 4);
  assert.equal(body.choices[0].finish_reason, 'stop');
  assert.equal(body.usage.completion_tokens, 4);
});

test('bad JSON and a bad max_tokens are answered 400 with an OpenAI error', async (t) => {
  const w = await worker(t);
  const badJson = await fetch(`${w.url}/v1/chat/completions`, { method: 'POST', body: '{"messages": [' });
  assert.equal(badJson.status, 400);
  const error = (await badJson.json()) as any;
  assert.equal(error.error.type, 'invalid_request_error');
  assert.equal(typeof error.error.message, 'string');
  const badTokens = await chat(w, { messages: [], max_tokens: -1 });
  assert.equal(badTokens.status, 400);
  assert.equal(((await badTokens.json()) as any).error.param, 'max_tokens');
});

test('a streamed answer sends its first token well before its last, then [DONE]', async (t) => {
  const tokens = 10;
  const tokenMs = 40;
  const w = await worker(t, { prefillMs: 20, tokenMs });
  const response = await chat(w, { messages: [{ role: 'user', content: 'hi' }], max_tokens: tokens, stream: true });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const arrivals: Array<{ at: number; data: string }> = [];
  let buffered = '';
  const decoder = new TextDecoder();
  for await (const piece of response.body!) {
    buffered += decoder.decode(piece, { stream: true });
    let end: number;
    while ((end = buffered.indexOf('\n\n')) !== -1) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      assert.ok(event.startsWith('data: '), `not an SSE data event: ${event}`);
      arrivals.push({ at: performance.now(), data: event.slice('data: '.length) });
    }
  }
  assert.equal(arrivals.at(-1)!.data, '[DONE]');
  const chunks = arrivals.slice(0, -1).map((a) => JSON.parse(a.data) as any);
  const tokenChunks = chunks.filter((c) => c.choices[0]?.delta?.content !== undefined);
  assert.equal(tokenChunks.length, tokens);
  for (const chunk of chunks) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.id, chunks[0].id);
  }
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
  // Nine token intervals (360 ms) separate the first token from the last; accept 50% of that.
  const spread = arrivals.at(-1)!.at - arrivals[0]!.at;
  assert.ok(spread >= 0.5 * (tokens - 1) * tokenMs, `events arrived together (${spread.toFixed(0)} ms apart)`);
});

test('with one slot the second of two requests waits a full service time and is counted as waiting', async (t) => {
  const w = await worker(t, { slots: 1, prefillMs: 100, tokenMs: 20 });
  const serviceMs = 100 + 10 * 20;
  const startedAt = performance.now();
  const first = timedChat(w, 10);
  const second = timedChat(w, 10);
  let sawWaiting = false;
  let sawRunning = false;
  let settled = false;
  void Promise.all([first, second]).finally(() => (settled = true));
  // Watch the worker while the first request holds the slot.
  while (!settled && !sawWaiting) {
    const waiting = await metric(w, 'vllm:num_requests_waiting');
    const running = await metric(w, 'vllm:num_requests_running');
    sawWaiting ||= waiting === 1;
    sawRunning ||= running === 1;
    await sleep(15);
  }
  const [a, b] = await Promise.all([first, second]);
  assert.ok(sawWaiting, 'vllm:num_requests_waiting never showed 1');
  assert.ok(sawRunning, 'vllm:num_requests_running never showed 1');
  const gap = Math.abs(b.endedAt - a.endedAt);
  assert.ok(gap >= 0.6 * serviceMs, `second finished only ${gap.toFixed(0)} ms after the first`);
  const last = Math.max(a.endedAt, b.endedAt) - startedAt;
  assert.ok(last >= 1.7 * serviceMs, `both finished within ${last.toFixed(0)} ms, less than two service times`);
  assert.equal(w.stats().peakWaiting, 1);
  assert.equal(await metric(w, 'vllm:request_success_total'), 2);
});

test('speed 3 makes a request about three times slower', async (t) => {
  const w = await worker(t, { prefillMs: 100, tokenMs: 20 });
  // The fastest of two runs each: noise only ever adds time.
  const best = async (): Promise<number> => Math.min((await timedChat(w, 10)).ms, (await timedChat(w, 10)).ms);
  const normal = await best();
  w.set({ speed: 3 });
  const slow = await best();
  const ratio = slow / normal;
  assert.ok(ratio > 2 && ratio < 4.5, `speed 3 took ${ratio.toFixed(2)}× as long (${normal.toFixed(0)} vs ${slow.toFixed(0)} ms)`);
});

test('failRate 1 set over HTTP answers 500, and 0 restores service', async (t) => {
  const w = await worker(t, { prefillMs: 1, tokenMs: 1 });
  const set = await fetch(`${w.url}/_sim/switches`, { method: 'POST', body: JSON.stringify({ failRate: 1 }) });
  assert.equal(set.status, 200);
  assert.equal(((await set.json()) as any).failRate, 1);
  const failed = await chat(w, { messages: [] });
  assert.equal(failed.status, 500);
  assert.equal(((await failed.json()) as any).error.type, 'server_error');
  assert.equal(failed.headers.get('x-worker'), 'w-test');
  w.set({ failRate: 0 });
  assert.equal((await chat(w, { messages: [] })).status, 200);
  assert.equal(w.stats().failed, 1);
});

test('invalid switches are refused whole', async (t) => {
  const w = await worker(t);
  const refused = await fetch(`${w.url}/_sim/switches`, { method: 'POST', body: JSON.stringify({ speed: 2, failRate: 7 }) });
  assert.equal(refused.status, 400);
  assert.equal(w.stats().switches.speed, 1);
  assert.throws(() => w.set({ slots: 0 }), RangeError);
});

test('an unhealthy worker fails /health but still serves inference', async (t) => {
  const w = await worker(t, { prefillMs: 1, tokenMs: 1 });
  const healthy = await fetch(`${w.url}/health`);
  assert.equal(healthy.status, 200);
  assert.deepEqual(await healthy.json(), { status: 'ok' });
  w.set({ unhealthy: true });
  const sick = await fetch(`${w.url}/health`);
  assert.equal(sick.status, 503);
  await sick.body?.cancel();
  assert.equal((await chat(w, { messages: [] })).status, 200);
});

test('a killed worker refuses connections and a revived one serves on the same URL', async (t) => {
  const w = await worker(t, { prefillMs: 1, tokenMs: 1 });
  assert.equal((await chat(w, { messages: [] })).status, 200);
  await w.kill();
  assert.equal(w.stats().up, false);
  assert.equal(await connectionRefused(w.port), true);
  await assert.rejects(fetch(`${w.url}/health`));
  await w.revive();
  const response = await chat(w, { messages: [] });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-worker'), 'w-test');
});

test('kill drops requests in flight instead of finishing them', async (t) => {
  const w = await worker(t, { slots: 1, prefillMs: 5000 });
  const outcome = (response: Promise<Response>) => response.then(() => 'answered', () => 'dropped');
  const inFlight = outcome(chat(w, { messages: [] }));
  const queued = outcome(chat(w, { messages: [] }));
  await until(() => w.stats().waiting === 1, 'a queued request');
  await w.kill();
  assert.equal(await inFlight, 'dropped');
  assert.equal(await queued, 'dropped');
  await w.revive();
  assert.equal(w.stats().running, 0);
  assert.equal(w.stats().waiting, 0);
});

test('a client that disconnects frees its slot for the next request', async (t) => {
  // Alone, the first request would hold the only slot for five seconds.
  const w = await worker(t, { slots: 1, prefillMs: 10, tokenMs: 10 });
  const abandoned = new AbortController();
  const first = chat(w, { messages: [], max_tokens: 500 }, abandoned.signal);
  await until(() => w.stats().running === 1, 'the first request to run');
  abandoned.abort();
  await assert.rejects(first);
  await until(() => w.stats().running === 0, 'the slot to be freed');
  const next = await timedChat(w, 1);
  assert.ok(next.ms < 2500, `the next request waited ${next.ms.toFixed(0)} ms`);
  assert.equal(w.stats().cancelled, 1);
});

test('a client that disconnects while queued leaves the queue', async (t) => {
  const w = await worker(t, { slots: 1, prefillMs: 10, tokenMs: 10 });
  const holder = new AbortController();
  const holding = chat(w, { messages: [], max_tokens: 500, stream: true }, holder.signal);
  const leaver = new AbortController();
  const leaving = chat(w, { messages: [] }, leaver.signal);
  await until(() => w.stats().waiting === 1, 'a queued request');
  leaver.abort();
  await assert.rejects(leaving);
  await until(() => w.stats().waiting === 0, 'the queue to empty');
  assert.equal(w.stats().running, 1);
  holder.abort();
  await holding.then((r) => r.body?.cancel()).catch(() => {});
  await until(() => w.stats().running === 0, 'the slot to be freed');
});

test('a full queue answers 503 with Retry-After', async (t) => {
  const w = await worker(t, { slots: 1, maxQueue: 1, prefillMs: 300 });
  const running = chat(w, { messages: [] });
  const queued = chat(w, { messages: [] });
  await until(() => w.stats().waiting === 1, 'a queued request');
  const refused = await chat(w, { messages: [] });
  assert.equal(refused.status, 503);
  assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  await refused.body?.cancel();
  assert.equal((await running).status, 200);
  assert.equal((await queued).status, 200);
  assert.equal(w.stats().rejected, 1);
});

test('a hung worker accepts requests and never answers, while /_sim still does', async (t) => {
  const w = await worker(t, { hang: true });
  await assert.rejects(fetch(`${w.url}/health`, { signal: AbortSignal.timeout(300) }), { name: 'TimeoutError' });
  const switches = await fetch(`${w.url}/_sim/switches`, { method: 'POST', body: JSON.stringify({ hang: false }) });
  assert.equal(switches.status, 200);
  await switches.body?.cancel();
  assert.equal((await fetch(`${w.url}/health`)).status, 200);
  assert.equal(w.stats().hung, 1);
});

test('/metrics uses vLLM names with HELP, TYPE and a model_name label', async (t) => {
  const w = await worker(t, { model: 'm"1', slots: 2, prefillMs: 400 });
  const running = chat(w, { messages: [] });
  await until(() => w.stats().running === 1, 'a running request');
  const response = await fetch(`${w.url}/metrics`);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await response.text();
  for (const name of ['vllm:num_requests_running', 'vllm:num_requests_waiting', 'vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc', 'vllm:request_success_total']) {
    assert.match(text, new RegExp(`^# HELP ${name} `, 'm'));
    assert.match(text, new RegExp(`^# TYPE ${name} (gauge|counter)$`, 'm'));
    assert.match(text, new RegExp(`^${name}\\{model_name="m\\\\"1"\\} [0-9.]+$`, 'm'));
  }
  assert.equal(await metric(w, 'vllm:kv_cache_usage_perc'), 0.5);
  assert.equal(await metric(w, 'vllm:gpu_cache_usage_perc'), 0.5);
  await running;
});

test('/v1/models lists the model the worker serves', async (t) => {
  const w = await worker(t, { model: 'sim-7b' });
  const body = (await (await fetch(`${w.url}/v1/models`)).json()) as any;
  assert.equal(body.object, 'list');
  assert.deepEqual(body.data.map((m: any) => m.id), ['sim-7b']);
  assert.equal((await fetch(`${w.url}/v1/models/sim-7b`)).status, 200);
  assert.equal((await fetch(`${w.url}/v1/models/other`)).status, 404);
});

test('/echo reflects method, url, headers and body without waiting for a slot', async (t) => {
  const w = await worker(t, { slots: 1, prefillMs: 5000 });
  const busy = new AbortController();
  chat(w, { messages: [] }, busy.signal).catch(() => {});
  t.after(() => busy.abort());
  await until(() => w.stats().running === 1, 'the slot to be taken');
  const startedAt = performance.now();
  const response = await fetch(`${w.url}/echo/a/b?x=1`, { method: 'PUT', headers: { 'x-test': 'yes' }, body: 'héllo' });
  assert.ok(performance.now() - startedAt < 2500, 'echo waited for the busy slot');
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('x-worker'), 'w-test');
  const body = (await response.json()) as any;
  assert.deepEqual(
    { method: body.method, url: body.url, test: body.headers['x-test'], body: body.body, worker: body.worker },
    { method: 'PUT', url: '/echo/a/b?x=1', test: 'yes', body: 'héllo', worker: 'w-test' },
  );
  const bare = (await (await fetch(`${w.url}/echo`)).json()) as any;
  assert.equal(bare.method, 'GET');
  assert.equal((await fetch(`${w.url}/echo?status=418`)).status, 418);
});

test('/sse streams N events M ms apart', async (t) => {
  const w = await worker(t);
  const response = await fetch(`${w.url}/sse?events=4&intervalMs=60`);
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const arrivals: number[] = [];
  let text = '';
  const decoder = new TextDecoder();
  for await (const piece of response.body!) {
    text += decoder.decode(piece, { stream: true });
    arrivals.push(performance.now());
  }
  assert.equal(text, 'data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n');
  // Three intervals of 60 ms separate the first event from the last.
  assert.ok(arrivals.at(-1)! - arrivals[0]! >= 0.5 * 180);
});

test('unknown paths answer 404 and every answer names the worker', async (t) => {
  const w = await worker(t);
  const response = await fetch(`${w.url}/nope`);
  assert.equal(response.status, 404);
  assert.equal(response.headers.get('x-worker'), 'w-test');
  assert.equal(((await response.json()) as any).error.type, 'not_found_error');
});
