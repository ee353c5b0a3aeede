import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

let worker: GpuWorker;
let gw: TestGateway;

before(async () => {
  worker = await startGpuWorker({ name: 'sse', tokenMs: 40, prefillMs: 10 });
  gw = await startGateway({
    upstreams: [{ name: 'gpu', targets: [{ url: worker.url }] }],
    routes: [{ name: 'llm', methods: ['GET', 'POST'], paths: ['/v1/*', '/sse'], upstream: 'gpu' }],
    consumers: [],
  });
});
after(async () => {
  await gw.close();
  await worker.close();
});

test('an SSE stream’s first event reaches the client before the upstream has finished', async () => {
  const started = Date.now();
  const res = await request(`${gw.url}/sse?events=8&intervalMs=100`);
  assert.equal(res.statusCode, 200);
  assert.match(res.headers['content-type'] as string, /text\/event-stream/);
  const arrivals: number[] = [];
  let text = '';
  for await (const chunk of res.body) {
    text += chunk.toString();
    arrivals.push(Date.now() - started);
  }
  const events = text.split('\n\n').filter(Boolean);
  assert.equal(events.length, 8);
  // The upstream takes ≈700 ms for all eight; buffering would deliver everything at the end.
  assert.ok(arrivals.length >= 4, `events arrived in ${arrivals.length} pieces`);
  assert.ok(arrivals[0]! < arrivals.at(-1)! - 400, `first piece at ${arrivals[0]} ms, last at ${arrivals.at(-1)} ms`);
});

test('an OpenAI-style streamed completion passes through token by token', async () => {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true, max_tokens: 6 }),
  });
  assert.equal(res.statusCode, 200);
  let pieces = 0;
  let text = '';
  for await (const chunk of res.body) {
    pieces++;
    text += chunk.toString();
  }
  assert.ok(pieces >= 4, `arrived in ${pieces} pieces`);
  assert.match(text, /data: \[DONE\]/);
});

test('a stream keeps flowing across a configuration swap and the old generation closes after it', async () => {
  const res = await request(`${gw.url}/sse?events=10&intervalMs=80`);
  const before = gw.node.generation!;
  await gw.apply({
    upstreams: [{ name: 'gpu', targets: [{ url: worker.url }] }],
    routes: [
      { name: 'llm', methods: ['GET', 'POST'], paths: ['/v1/*', '/sse'], upstream: 'gpu' },
      { name: 'extra', methods: ['GET'], paths: ['/extra'], upstream: 'gpu' },
    ],
    consumers: [],
  });
  assert.notEqual(gw.node.generation, before);
  assert.equal(before.activeRequests, 1, 'the old generation still serves the stream');
  let text = '';
  for await (const chunk of res.body) text += chunk.toString();
  assert.equal(text.split('\n\n').filter(Boolean).length, 10);
  assert.equal(before.activeRequests, 0);
});
