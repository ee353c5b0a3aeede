import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { startHarness, type AdminHarness } from '../admin/admin-harness.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { call } from '../plugins/fixtures.js';
import { simulatedUsage } from './fixtures.js';

let worker: GpuWorker;
let gw: TestGateway;
let h: AdminHarness;
let token: string;
let key: string;

const messages = [{ role: 'user', content: 'How many tokens is this?' }];
const sizes = [3, 5, 8];

before(async () => {
  worker = await startGpuWorker({ prefillMs: 2, tokenMs: 1 });
  gw = await startGateway({
    upstreams: [{ name: 'gpus', targets: [{ url: worker.url }] }],
    routes: [{ name: 'chat', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'gpus', auth: 'api-key', meterStreams: true }],
    consumers: [{ name: 'acme' }, { name: 'idle' }],
  });
  key = (await issueKey(gw.store, 'acme', { actor: 'test' })).key;
  const revision = await gw.store.revision();
  await waitFor(() => gw.node.revision >= revision, 5000, 'key in force');
  h = await startHarness({ store: gw.store, node: gw.node });
  token = await h.login();
  for (const [i, max_tokens] of sizes.entries()) {
    const answer = await call(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ model: 'sim-llm', messages, max_tokens, stream: i === 1 }),
    });
    assert.equal(answer.status, 200);
  }
});
after(async () => {
  await h.close();
  await gw.close();
  await worker.close();
});

const usage = (query: string, consumer = 'acme') => h.api('GET', `/consumers/${consumer}/usage${query}`, { token });
const sum = (series: Array<{ promptTokens: number; completionTokens: number }>, field: 'promptTokens' | 'completionTokens') => series.reduce((n, b) => n + b[field], 0);

describe('GET /consumers/{id}/usage', () => {
  const prompt = simulatedUsage(messages, 0).prompt_tokens * sizes.length;
  const completion = sizes.reduce((a, b) => a + b, 0);

  test('minute, hour and day series each add up to the totals, which equal what the worker reported', async () => {
    const now = Date.now();
    const ranges: Record<string, [number, number]> = { minute: [now - 30 * 60_000, now + 60_000], hour: [now - 5 * 3_600_000, now + 3_600_000], day: [now - 3 * 86_400_000, now + 86_400_000] };
    for (const [granularity, [from, to]] of Object.entries(ranges)) {
      const a = await usage(`?granularity=${granularity}&from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`);
      assert.equal(a.status, 200, a.text);
      assert.equal(a.body.consumer.name, 'acme');
      assert.equal(a.body.granularity, granularity);
      assert.equal(a.body.source, 'node');
      assert.equal(a.body.totals.promptTokens, prompt, granularity);
      assert.equal(a.body.totals.completionTokens, completion, granularity);
      assert.equal(a.body.totals.totalTokens, prompt + completion);
      assert.equal(sum(a.body.series, 'promptTokens'), prompt, `${granularity} series add up`);
      assert.equal(sum(a.body.series, 'completionTokens'), completion, `${granularity} series add up`);
      assert.deepEqual(a.body.totals.breakdown, [{ route: 'chat', model: 'sim-llm', promptTokens: prompt, completionTokens: completion, unknownUsage: 0 }]);
      // Every bucket of the range is there, empty ones as zeros, one step apart.
      const step = { minute: 60_000, hour: 3_600_000, day: 86_400_000 }[granularity]!;
      const starts = a.body.series.map((b: { start: string }) => Date.parse(b.start));
      assert.ok(starts.every((s: number, i: number) => i === 0 || s - starts[i - 1] === step));
      assert.equal(starts[0] % step, 0, 'buckets start on UTC boundaries');
    }
  });

  test('the consumer is found by id as well as by name; another consumer has zero usage', async () => {
    const consumers = await h.api('GET', '/consumers', { token });
    const acme = consumers.body.find((c: { name: string }) => c.name === 'acme');
    const byId = await usage('', acme.id);
    assert.equal(byId.status, 200);
    assert.equal(byId.body.totals.completionTokens, completion, 'the default range (last 24 h by hour) holds them');
    const idle = await usage('?granularity=day', 'idle');
    assert.equal(idle.body.totals.totalTokens, 0);
    assert.equal((await usage('', 'nobody')).status, 404);
  });

  test('bad ranges are refused with 400 naming the parameter', async () => {
    const cases: Array<[string, string]> = [
      ['?granularity=week', 'granularity'],
      ['?from=yesterday', 'from'],
      ['?to=2026-13-45T00:00:00Z', 'to'],
      ['?from=2026-12-01T10:00:00', 'from'],
      [`?from=${new Date(Date.now()).toISOString()}&to=${new Date(Date.now() - 60_000).toISOString()}`, 'from'],
      [`?granularity=minute&from=${new Date(Date.now() - 25 * 3_600_000).toISOString()}`, 'from'],
      [`?granularity=minute&from=${new Date(Date.now() - 5 * 86_400_000).toISOString()}&to=${new Date(Date.now() - 4.5 * 86_400_000).toISOString()}`, 'from'],
      ['?since=2026-12-01T00:00:00Z', 'since'],
    ];
    for (const [query, param] of cases) {
      const a = await usage(query);
      assert.equal(a.status, 400, `${query}: ${a.text}`);
      assert.match(a.headers.get('content-type')!, /^application\/problem\+json/);
      assert.equal(a.body.type, 'urn:switchboard:problem:validation');
      assert.deepEqual(a.body.errors.map((e: { path: string }) => e.path), [`/${param}`], query);
      assert.match(a.body.detail, new RegExp(`^${param}:`));
    }
  });
});
