import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CounterStore } from '../../plugins/rate-limit/counter-store.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { assertOneSharedCount, call } from './fixtures.js';
import { startRedis, type RedisServer } from './redis-server.js';

let redis: RedisServer;
let upstream: EchoUpstream;
let one: TestGateway;
let two: TestGateway;

const counters = (gw: TestGateway) => gw.node.services.shared.get('rate-limit-counters') as CounterStore;

before(async () => {
  redis = await startRedis();
  upstream = await startEchoUpstream('echo');
  one = await startGateway({
    upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
    routes: [
      { name: 'shared', methods: ['GET'], paths: ['/shared'], upstream: 'echo', rateLimit: { max: 6, windowMs: 60_000, by: 'ip' } },
      { name: 'outage', methods: ['GET'], paths: ['/outage'], upstream: 'echo', rateLimit: { max: 3, windowMs: 60_000, by: 'ip' } },
    ],
    consumers: [],
  }, { redisUrl: redis.url });
  two = await startGateway(undefined, { storePath: one.storePath, redisUrl: redis.url });
  await waitFor(() => counters(one).redisUp && counters(two).redisUp, 5000, 'both nodes connected to Redis');
});
after(async () => {
  await one.close();
  await two.close();
  await upstream.close();
  await redis.stop();
});

describe('rate limits shared through Redis', () => {
  test('two gateway nodes share one count: max requests in total, then 429 on either node', async () => {
    for (const refused of await assertOneSharedCount([one, two], '/shared', 6)) assert.ok(Number(refused.headers.get('retry-after')) > 0);
  });

  test('with Redis stopped the nodes keep serving and limit locally, say so in metrics, and share again when it returns', async () => {
    await redis.stop();
    await waitFor(() => !counters(one).redisUp && !counters(two).redisUp, 5000, 'nodes noticed Redis is gone');
    // Local limits: each node admits max on its own (documented: up to N× the limit fleet-wide).
    for (const gw of [one, two]) {
      for (let i = 0; i < 3; i++) assert.equal((await call(`${gw.url}/outage`)).status, 200, 'served during the outage');
      const refused = await call(`${gw.url}/outage`);
      assert.equal(refused.status, 429, 'still limited, by the node alone');
    }
    const text = one.metrics.render();
    assert.match(text, /switchboard_ratelimit_redis_up 0/);
    const fallbacks = Number(/switchboard_ratelimit_local_fallback_total (\d+)/.exec(text)?.[1]);
    assert.ok(fallbacks >= 4, `fallback counted: ${fallbacks}`);

    await redis.restart();
    await waitFor(() => counters(one).redisUp && counters(two).redisUp, 10_000, 'nodes reconnected to Redis');
    // Redis restarted empty: the shared window starts over and is shared again.
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await call(`${(i % 2 ? two : one).url}/outage`);
      assert.equal(a.status, 200);
      remaining.push(a.headers.get('ratelimit-remaining')!);
    }
    assert.deepEqual(remaining, ['2', '1', '0']);
    assert.equal((await call(`${two.url}/outage`)).status, 429);
    await sleep(10);
    assert.match(one.metrics.render(), /switchboard_ratelimit_redis_up 1/);
  });
});
