import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CounterStore } from '../../plugins/rate-limit/counter-store.js';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { call } from '../plugins/fixtures.js';
import { startRedis, type RedisServer } from '../plugins/redis-server.js';
import { simulatedUsage } from './fixtures.js';
import { awayFromWindowEdge } from './window-edge.js';

const messages = [{ role: 'user', content: 'Keep counting when Redis is gone.' }];
const MAX_TOKENS = 8;
const PER_REQUEST = simulatedUsage(messages, MAX_TOKENS).total_tokens;
const WINDOW_MS = 3_600_000;

let redis: RedisServer;
let worker: GpuWorker;
let one: TestGateway;
let two: TestGateway;
const counters = (gw: TestGateway) => gw.node.services.shared.get('rate-limit-counters') as CounterStore;

before(async () => {
  redis = await startRedis();
  worker = await startGpuWorker({ prefillMs: 2, tokenMs: 1 });
  one = await startGateway(
    {
      upstreams: [{ name: 'gpus', targets: [{ url: worker.url }] }],
      routes: [{ name: 'open', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'gpus', tokenLimit: { max: 3 * PER_REQUEST, windowMs: WINDOW_MS } }],
      consumers: [],
    },
    { redisUrl: redis.url },
  );
  two = await startGateway(undefined, { storePath: one.storePath, redisUrl: redis.url });
  // The counter store is made by the first metered request's stage; make it, then wait for Redis.
  await waitFor(() => counters(one) !== undefined && counters(two) !== undefined, 5000, 'counter stores made');
  await waitFor(() => counters(one).redisUp && counters(two).redisUp, 5000, 'both nodes connected to Redis');
  await awayFromWindowEdge(WINDOW_MS);
});
after(async () => {
  await one.close();
  await two.close();
  await worker.close();
  await redis.stop();
});

const chat = (gw: TestGateway) =>
  call(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'sim-llm', messages, max_tokens: MAX_TOKENS }) });

test('with Redis stopped each node keeps serving and limiting tokens on its own, from the last count Redis gave it', async () => {
  // Shared while Redis answers: one budget for both nodes.
  assert.equal((await chat(one)).status, 200);
  assert.equal((await chat(two)).status, 200);
  assert.equal((await chat(one)).headers.get('x-ratelimit-remaining-tokens'), String(PER_REQUEST), 'two answers charged, on either node');

  await redis.stop();
  await waitFor(() => !counters(one).redisUp && !counters(two).redisUp, 5000, 'nodes noticed Redis is gone');
  // Node one had seen 3 charged answers (its own two and node two's, through Redis): spent.
  const refused = await chat(one);
  assert.equal(refused.status, 429, `node one limits alone: ${refused.text}`);
  // Node two last saw 2 answers' worth from Redis: it admits one more on its own, then refuses.
  assert.equal((await chat(two)).status, 200, 'node two counts on from its last Redis count');
  assert.equal((await chat(two)).status, 429);
  assert.match(one.metrics.render(), /switchboard_ratelimit_redis_up 0/);
});
