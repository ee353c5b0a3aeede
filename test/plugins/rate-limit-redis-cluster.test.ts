import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import type { CounterStore } from '../../plugins/rate-limit/counter-store.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { simulatedUsage } from '../inference/fixtures.js';
import { assertOneSharedCount, call } from './fixtures.js';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';

let cluster: RedisCluster;
let upstream: EchoUpstream;
let worker: GpuWorker;
let one: TestGateway;
let two: TestGateway;
let key: string;

const messages = [{ role: 'user', content: 'Count to three.' }];
const MAX_TOKENS = 10;
const PER_REQUEST = simulatedUsage(messages, MAX_TOKENS).total_tokens;
const ROUTES = 8;

const counters = (gw: TestGateway) => gw.node.services.shared.get('rate-limit-counters') as CounterStore;
const fallbacks = (gw: TestGateway) => Number(/switchboard_ratelimit_local_fallback_total (\d+)/.exec(gw.metrics.render())?.[1] ?? 0);

before(async () => {
  cluster = await startRedisCluster();
  upstream = await startEchoUpstream('echo');
  worker = await startGpuWorker({ prefillMs: 1, tokenMs: 1 });
  one = await startGateway(
    {
      upstreams: [
        { name: 'echo', targets: [{ url: upstream.url }] },
        { name: 'gpus', targets: [{ url: worker.url }] },
      ],
      routes: [
        { name: 'shared', methods: ['GET'], paths: ['/shared'], upstream: 'echo', rateLimit: { max: 6, windowMs: 60_000, by: 'ip' } },
        // Several routes: several keys, which the cluster spreads over its nodes' slots.
        ...Array.from({ length: ROUTES }, (_, i) => ({ name: `spread-${i}`, methods: ['GET'], paths: [`/spread/${i}`], upstream: 'echo', rateLimit: { max: 100, windowMs: 60_000, by: 'ip' } })),
        { name: 'chat', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'gpus', auth: 'api-key', meterTokens: true },
      ],
      // A request limit, a calendar quota, and two token budgets charged by one multi-key script.
      consumers: [{ name: 'acme', rateLimit: { max: 50, windowMs: 60_000 }, quota: { max: 5, period: 'day' }, tokenLimit: { max: 1000 * PER_REQUEST, windowMs: 60_000 }, tokenQuota: { max: 3 * PER_REQUEST, period: 'day' } }],
    },
    { redisUrl: cluster.url },
  );
  two = await startGateway(undefined, { storePath: one.storePath, redisUrl: cluster.url });
  key = (await issueKey(one.store, 'acme', { actor: 'test' })).key;
  const revision = await one.store.revision();
  await waitFor(() => one.node.revision >= revision && two.node.revision >= revision, 5000, 'the key in force on both nodes');
  await waitFor(() => counters(one).redisUp && counters(two).redisUp, 10_000, 'both nodes connected to the cluster');
});
after(async () => {
  // The second node first: the first one owns the shared store's directory and removes it.
  await two?.close();
  await one?.close();
  await upstream?.close();
  await worker?.close();
  await cluster?.stop();
});

describe('counters in a three-node Redis Cluster', () => {
  test('two gateway nodes share one exact count through the cluster: max requests in total, then 429 on either node', async () => {
    await assertOneSharedCount([one, two], '/shared', 6);
    assert.equal(fallbacks(one) + fallbacks(two), 0, 'every check was counted in the cluster, none locally');
  });

  test('the counters land on more than one cluster node: the client follows the slots, not one server', async () => {
    for (let i = 0; i < ROUTES; i++) assert.equal((await call(`${(i % 2 ? two : one).url}/spread/${i}`)).status, 200);
    const perNode = cluster.ports.map((port) => Number(cluster.cli(port, 'DBSIZE').trim()));
    assert.ok(perNode.filter((n) => n > 0).length >= 2, `keys per node: ${perNode}`);
    assert.equal(fallbacks(one) + fallbacks(two), 0);
  });

  test("a consumer's request quota and token budgets (one script, keys under one hash tag) are shared exactly across both nodes", async () => {
    const chat = (gw: TestGateway) =>
      call(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify({ model: 'sim-llm', messages, max_tokens: MAX_TOKENS }),
      });
    const remaining: number[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await chat(i % 2 ? two : one);
      assert.equal(a.status, 200, `request ${i + 1}: ${a.text}`);
      remaining.push(Number(a.headers.get('x-ratelimit-remaining-tokens')));
    }
    // The tighter budget is the daily token quota: each node saw the other's charges.
    assert.deepEqual(remaining, [3 * PER_REQUEST, 2 * PER_REQUEST, PER_REQUEST]);
    await waitFor(async () => (await chat(two)).status === 429, 2000, 'the token quota used up, seen by the other node');
    const refused = await chat(one);
    assert.equal(refused.status, 429);
    assert.equal(fallbacks(one) + fallbacks(two), 0, 'no CROSSSLOT or other Redis error sent a check to local counting');
    assert.ok(counters(one).redisUp && counters(two).redisUp);
  });
});
