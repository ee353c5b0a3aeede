import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { startHarness, type AdminHarness } from '../admin/admin-harness.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';

let gpu: GpuWorker;
let gw: TestGateway;
let admin: AdminHarness;

before(async () => {
  gpu = await startGpuWorker({ slots: 1, prefillMs: 10, tokenMs: 20 });
  gw = await startGateway({
    upstreams: [
      { name: 'gpu', targets: [{ url: gpu.url, maxConnections: 1 }], queue: { maxSize: 5, timeoutMs: 5000 } },
      { name: 'plain', targets: [{ url: gpu.url }] },
    ],
    routes: [
      { name: 'chat', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'gpu' },
      { name: 'plain', methods: ['POST'], paths: ['/plain/*'], upstream: 'plain', stripPrefix: '/plain' },
    ],
    consumers: [],
  });
  admin = await startHarness({ store: gw.store, node: gw.node });
});
after(async () => {
  await admin.close();
  await gw.close();
  await gpu.close();
});

const chat = (tokens: number) =>
  request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sim-llm', max_tokens: tokens, messages: [{ role: 'user', content: 'hi' }] }),
  }).then(async (res) => (await res.body.dump(), res.statusCode));

test('queue depth and wait per upstream and consumer show in /metrics and in the admin API while requests wait, and after', async () => {
  const token = await admin.login();
  const busy = chat(15);
  await waitFor(() => gpu.stats().running === 1, 2000, 'the slot taken');
  const waiting = [chat(1), chat(1)];
  await waitFor(() => gw.node.upstreams.get('gpu')!.queue!.size === 2, 2000, 'two waiting');

  const metrics = gw.metrics.render();
  assert.match(metrics, /^switchboard_upstream_queue_depth\{upstream="gpu",consumer="anonymous"\} 2$/m);
  assert.match(metrics, /^switchboard_upstream_queue_oldest_wait_seconds\{upstream="gpu"\} 0\.\d+$/m);
  assert.doesNotMatch(metrics, /upstream_queue_[a-z_]+\{upstream="plain"/, 'a pool without queue adds no series');
  const now = await admin.api('GET', '/upstreams/gpu/queue', { token });
  assert.equal(now.status, 200, now.text);
  assert.equal(now.body.depth, 2);
  assert.equal(now.body.maxSize, 5);
  assert.deepEqual(now.body.consumers.map((c: { consumer: string; waiting: number }) => [c.consumer, c.waiting]), [['anonymous', 2]]);

  assert.deepEqual(await Promise.all([busy, ...waiting]), [200, 200, 200]);
  const later = await admin.api('GET', '/upstreams/gpu/queue', { token });
  assert.equal(later.body.depth, 0);
  assert.equal(later.body.consumers[0].released, 2);
  assert.ok(later.body.consumers[0].meanWaitMs > 50, `mean wait ${later.body.consumers[0].meanWaitMs} ms behind a 300 ms request`);
  const after = gw.metrics.render();
  assert.match(after, /^switchboard_upstream_queue_requests_total\{upstream="gpu",consumer="anonymous",outcome="released"\} 2$/m);
  const waited = Number(/^switchboard_upstream_queue_wait_seconds_total\{upstream="gpu",consumer="anonymous"\} ([\d.e-]+)$/m.exec(after)?.[1]);
  assert.ok(waited > 0.1, `waited ${waited} s in all`);

  const none = await admin.api('GET', '/upstreams/plain/queue', { token });
  assert.equal(none.status, 404);
  assert.match(none.body.detail, /has no queue/);
});

test('the queue endpoint answers an upstream the configuration does not hold with a not-found problem naming the reference', async () => {
  const token = await admin.login();
  const missing = await admin.api('GET', '/upstreams/nope/queue', { token });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.type, 'urn:switchboard:problem:not-found');
  assert.match(missing.body.detail, /no upstream with id or name "nope"/);
});
