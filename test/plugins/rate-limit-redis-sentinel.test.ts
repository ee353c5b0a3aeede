import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CounterStore } from '../../plugins/rate-limit/counter-store.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { assertOneSharedCount, call } from './fixtures.js';
import { startRedisSentinel, type RedisSentinelSetup } from './redis-sentinel.js';

let sentinel: RedisSentinelSetup;
let upstream: EchoUpstream;
let one: TestGateway;
let two: TestGateway;

const counters = (gw: TestGateway) => gw.node.services.shared.get('rate-limit-counters') as CounterStore;

before(async () => {
  sentinel = await startRedisSentinel();
  upstream = await startEchoUpstream('echo');
  one = await startGateway(
    {
      upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
      routes: [
        { name: 'before', methods: ['GET'], paths: ['/before'], upstream: 'echo', rateLimit: { max: 4, windowMs: 60_000, by: 'ip' } },
        { name: 'probe', methods: ['GET'], paths: ['/probe'], upstream: 'echo', rateLimit: { max: 1_000_000, windowMs: 60_000, by: 'ip' } },
        { name: 'after', methods: ['GET'], paths: ['/after'], upstream: 'echo', rateLimit: { max: 4, windowMs: 60_000, by: 'ip' } },
      ],
      consumers: [],
    },
    { redisUrl: sentinel.url },
  );
  two = await startGateway(undefined, { storePath: one.storePath, redisUrl: sentinel.url });
  await waitFor(() => counters(one).redisUp && counters(two).redisUp, 10_000, 'both nodes connected to the master the Sentinel names');
});
after(async () => {
  // The second node first: the first one owns the shared store's directory and removes it.
  await two?.close();
  await one?.close();
  await upstream?.close();
  await sentinel?.stop();
});

const sharedCount = (path: string) => assertOneSharedCount([one, two], path, 4);

describe('counters on a Sentinel-watched master', () => {
  test('two gateway nodes share one exact count on the master the Sentinel names', async () => {
    await sharedCount('/before');
    assert.ok(Number(sentinel.cli(sentinel.masterPort, 'DBSIZE').trim()) > 0, 'the counters are on the master');
  });

  test('after a failover both nodes follow the Sentinel to the promoted replica and share counts there', async () => {
    await sentinel.failover();
    // The old master steps down and closes its clients; ioredis asks the Sentinel again.
    await waitFor(
      async () => {
        const a = await call(`${one.url}/probe`);
        const b = await call(`${two.url}/probe`);
        return counters(one).redisUp && counters(two).redisUp && a.status === 200 && b.status === 200;
      },
      20_000,
      'both nodes counting on the new master',
    );
    const keysBefore = Number(sentinel.cli(sentinel.replicaPort, 'DBSIZE').trim());
    await sharedCount('/after');
    assert.ok(Number(sentinel.cli(sentinel.replicaPort, 'DBSIZE').trim()) > keysBefore, 'the new window was counted on the promoted replica');
    assert.match(sentinel.cli(sentinel.masterPort, 'ROLE'), /^slave/, 'the old master now replicates the new one');
  });
});
