import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Agent, request } from 'undici';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

let gpus: GpuWorker[];
let gw: TestGateway;
const agent = new Agent({ connections: 128 });

/** A system prompt of ≈ 250 tokens: the shared prefix of a family of conversations. */
const systemPrompt = (n: number) => `You are assistant number ${n}. ` + 'Answer briefly and cite the manual. '.repeat(28);

const body = (system: string, user: string, extra: object = {}) =>
  JSON.stringify({ model: 'sim-llm', max_tokens: 4, ...extra, messages: [{ role: 'system', content: system }, { role: 'user', content: user }] });

before(async () => {
  gpus = await Promise.all([1, 2, 3, 4].map((n) => startGpuWorker({ name: `gpu${n}`, slots: 8, prefillMs: 5, tokenMs: 60 })));
  gw = await startGateway({
    upstreams: [
      {
        name: 'gpus',
        algorithm: 'prefix-affinity',
        // The key covers the system prompt only: every conversation behind one system prompt shares it.
        prefixAffinity: { prefixChars: 600, loadFactor: 0.25 },
        targets: gpus.map((g) => ({ url: g.url })),
      },
    ],
    // No stages: the fast lane, where nothing else reads the body; the proxy reads it for the key.
    routes: [{ name: 'chat', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'gpus' }],
    consumers: [],
  });
});
after(async () => {
  await gw.close();
  await agent.close();
  await Promise.all(gpus.map((g) => g.close()));
});

async function post(payload: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', ...headers },
    body: payload,
  });
  const text = await res.body.text();
  assert.equal(res.statusCode, 200, text);
  return res.headers['x-worker'] as string;
}

test('requests sharing a prompt prefix land on one worker while it is under its bound', async () => {
  const seen = new Set<string>();
  // One at a time: the worker never carries more than the pool's mean, so the key decides alone.
  for (let i = 0; i < 12; i++) seen.add(await post(body(systemPrompt(1), `question ${i}: ${'why '.repeat(i)}`)));
  assert.equal(seen.size, 1, `one system prompt went to ${[...seen].join(', ')}`);
});

test('different prefixes spread over the workers', async () => {
  const seen = new Set<string>();
  for (let n = 0; n < 16; n++) seen.add(await post(body(systemPrompt(100 + n), 'hello')));
  assert.ok(seen.size >= 3, `16 system prompts used ${seen.size} workers`);
});

test('a burst of one prefix spreads once its worker is over (1 + ε) × the mean in-flight, and no worker exceeds its bound', async () => {
  const burst = 16;
  const workers = await Promise.all(Array.from({ length: burst }, (_, i) => post(body(systemPrompt(2), `burst ${i}`))));
  const counts = new Map<string, number>();
  for (const w of workers) counts.set(w, (counts.get(w) ?? 0) + 1);
  // All 16 are in flight together (240 ms each): at equal latencies the bound is
  // ceil(1.25 × 16 / 4) = 5; a worker measured a little faster than the others gets a slightly
  // larger share of the bound (capacity = weight over relative latency), so at most 6.
  assert.ok(counts.size >= 3, `the burst stayed on ${[...counts.keys()].join(', ')}`);
  for (const [w, n] of counts) assert.ok(n <= 6, `${w} took ${n} of the burst, above its bound`);
  // The key's own worker took a full share: the bound grows with the burst, so the home is
  // offered every request and takes each one while under it. A worker measured faster than the
  // home may hold one more (its share of the bound is larger), so "the most" would be off by
  // one now and then (a CI run saw home 5, another worker 6); "at most one below" is the claim.
  const home = await post(body(systemPrompt(2), 'after the burst'));
  assert.ok((counts.get(home) ?? 0) >= Math.max(...counts.values()) - 1, `home ${home}: ${JSON.stringify([...counts])}`);
});

test('a body that is not JSON, or names no messages, is still served (least-queue picks its worker)', async () => {
  const res = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: '{"model":"sim-llm"' });
  assert.equal(res.statusCode, 400, 'the worker, not the gateway, judges the body');
  await res.body.dump();
  assert.ok(await post(JSON.stringify({ model: 'sim-llm', max_tokens: 1 })));
});

test('a chunked body is read for the key and forwarded whole', async () => {
  const payload = body(systemPrompt(1), 'chunked');
  const home = await post(body(systemPrompt(1), 'first'));
  const res = await request(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json' },
    body: (async function* () {
      yield Buffer.from(payload.slice(0, 100));
      yield Buffer.from(payload.slice(100));
    })() as unknown as import('node:stream').Readable,
  });
  const answer = (await res.body.json()) as { usage: { prompt_tokens: number } };
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-worker'], home, 'the same prefix, the same worker');
  assert.ok(answer.usage.prompt_tokens > 200, 'the worker read the whole prompt');
});

test('the simulator’s prefix cache makes a cached prompt’s time to first token shorter, and counts hits on /metrics', async () => {
  const worker = await startGpuWorker({ slots: 2, prefillMs: 5, tokenMs: 5, prefillMsPerToken: 0.25, prefixCacheBlocks: 4096 });
  try {
    const ttft = async (payload: string) => {
      const started = performance.now();
      const res = await request(`${worker.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload });
      let first = 0;
      for await (const chunk of res.body) if (first === 0 && String(chunk).includes('"delta"')) first = performance.now() - started;
      return first;
    };
    const conversation = systemPrompt(7) + ' '.repeat(0);
    const cold = await ttft(body(conversation, 'first turn', { stream: true }));
    const warm = await ttft(body(conversation, 'first turn', { stream: true }));
    // Cold, the whole prompt is prefilled (hundreds of tokens × 0.25 ms); warm, only the last
    // partial block. The ratio is the claim; the cold floor only shows prefill was simulated at all
    // (a CI run saw 93 ms where local runs see > 100, so it is not pinned tighter).
    assert.ok(cold > 50, `cold TTFT ${cold.toFixed(0)} ms`);
    assert.ok(warm < cold / 2, `warm TTFT ${warm.toFixed(0)} ms, cold ${cold.toFixed(0)} ms`);
    const stats = worker.stats();
    assert.ok(stats.prefixCacheHits > 0 && stats.prefixCacheHits < stats.prefixCacheQueries);
    const metrics = await (await request(`${worker.url}/metrics`)).body.text();
    assert.match(metrics, new RegExp(`^vllm:prefix_cache_hits_total\\{model_name="sim-llm"\\} ${stats.prefixCacheHits}$`, 'm'));
    assert.match(metrics, new RegExp(`^vllm:prefix_cache_queries_total\\{model_name="sim-llm"\\} ${stats.prefixCacheQueries}$`, 'm'));
  } finally {
    await worker.close();
  }
});

test('the prefix cache is an LRU of fixed capacity: a prompt evicted by others is computed in full again', async () => {
  const { PrefixCache } = await import('../../gateway/src/simulator/prefix-cache.js');
  const cache = new PrefixCache(10, 64);
  const a = 'a'.repeat(640);
  assert.equal(cache.prefill(a), 0);
  assert.equal(cache.prefill(a + 'tail'), 640, 'the ten blocks of a are reused behind the same prefix');
  assert.equal(cache.prefill('b'.repeat(64 * 6)), 0);
  // a's tail blocks went first (LRU, leading blocks touched last): its first four remain.
  assert.equal(cache.prefill(a), 4 * 64);
  assert.equal(cache.blocks, 10);
});

test('bounded loads hold a slow worker to its share of the capacity: it takes a third of a fast one’s bound', async () => {
  const { createPicker } = await import('../../gateway/src/balancer/prefix-affinity.js');
  const { members, upstream } = await import('../balancer/fixtures.js');
  const pool = members([1, 1, 1, 1]);
  const picker = createPicker({ members: pool, upstream: { ...upstream('prefix-affinity', pool), loadMetrics: undefined } as never });
  try {
    // Worker 0 answers in 300 ms, the others in 100 ms (the pool's peak-EWMA, as recorded).
    pool.forEach((m, i) => Object.assign(m.target, { ewmaMs: i === 0 ? 300 : 100, ewmaAt: Date.now() }));
    // 11 in flight elsewhere, 2 on the slow worker: total 14 → its bound is
    // ceil(1.25 × 14 × (1/3) / (3 + 1/3)) = 2, a fast one's ceil(1.25 × 14 × 1 / (10/3)) = 6.
    pool.forEach((m, i) => (m.target.inFlight = i === 0 ? 2 : [0, 4, 4, 3][i]!));
    let slowKey: string | undefined;
    for (let k = 0; k < 200 && slowKey === undefined; k++) {
      pool[0]!.target.inFlight = 0;
      if (picker.pick(pool, { clientIp: '', hashKey: `key-${k}` }) === pool[0]) slowKey = `key-${k}`;
    }
    assert.ok(slowKey, 'some key belongs to the slow worker');
    pool[0]!.target.inFlight = 1;
    assert.equal(picker.pick(pool, { clientIp: '', hashKey: slowKey }), pool[0], 'under its bound: the key stays');
    pool[0]!.target.inFlight = 2;
    assert.notEqual(picker.pick(pool, { clientIp: '', hashKey: slowKey }), pool[0], 'at its bound of 2: the key spills to a fast worker');
  } finally {
    picker.close?.();
  }
});
