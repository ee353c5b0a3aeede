import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startGpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { startGatewayProcess, TEST_ADMIN, type GatewayProcess } from '../helpers/gateway-process.js';
import { startRedis } from '../plugins/redis-server.js';
import { simulatedUsage } from './fixtures.js';
import { awayFromWindowEdge } from './window-edge.js';

const messages = [{ role: 'user', content: 'Two gateways, one budget.' }];
const MAX_TOKENS = 12;
const PER_REQUEST = simulatedUsage(messages, MAX_TOKENS).total_tokens;
const WINDOW_MS = 3_600_000;

test('a token limit holds exactly across two gateway processes sharing a real Redis, and the usage endpoint shows the fleet', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-tokens-2proc-'));
  const redis = await startRedis();
  const worker = await startGpuWorker({ prefillMs: 2, tokenMs: 1 });
  const client = new Redis(redis.url, { lazyConnect: true });
  const started: GatewayProcess[] = [];
  t.after(async () => {
    for (const g of started) await g.stop();
    client.disconnect();
    await worker.close();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const path = join(dir, 'switchboard.json');
  const store = new FileStore(path);
  await store.open();
  await replaceConfig(
    store,
    {
      upstreams: [{ name: 'gpus', targets: [{ url: worker.url }] }],
      routes: [{ name: 'chat', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'gpus', auth: 'api-key', meterTokens: true }],
      consumers: [{ name: 'acme', tokenLimit: { max: 3 * PER_REQUEST, windowMs: WINDOW_MS } }],
    },
    'test',
  );
  const { key } = await issueKey(store, 'acme', { actor: 'test' });
  await store.close();
  const a = await startGatewayProcess(`file:${path}`, { REDIS_URL: redis.url });
  started.push(a);
  const b = await startGatewayProcess(`file:${path}`, { REDIS_URL: redis.url });
  started.push(b);
  await awayFromWindowEdge(WINDOW_MS);

  const seen: Array<[number, string | null]> = [];
  for (let i = 0; i < 6; i++) {
    const node = i % 2 === 0 ? a : b;
    const res = await fetch(`${node.publicUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ model: 'sim-llm', messages, max_tokens: MAX_TOKENS }),
    });
    await res.text();
    seen.push([res.status, res.headers.get('x-ratelimit-remaining-tokens')]);
  }
  assert.deepEqual(
    seen,
    [
      [200, String(3 * PER_REQUEST)],
      [200, String(2 * PER_REQUEST)],
      [200, String(PER_REQUEST)],
      [429, '0'],
      [429, '0'],
      [429, '0'],
    ],
    'one budget, whichever process answers',
  );

  await client.connect();
  const budgetKeys = await client.keys('{tok:c:*');
  assert.equal(budgetKeys.length, 1, `one budget key: ${budgetKeys}`);
  assert.match(budgetKeys[0]!, /^\{tok:c:[^}]+\}:w:3600000:\d+$/, 'the key carries the consumer hash tag (one Redis Cluster slot)');
  assert.equal(Number(await client.get(budgetKeys[0]!)), 3 * PER_REQUEST, 'charged exactly once per answer, on either node');
  assert.ok((await client.pttl(budgetKeys[0]!)) <= WINDOW_MS, 'the budget expires with its window');

  // Both nodes' admin APIs show the fleet's usage, from Redis.
  for (const node of [a, b]) {
    const login = await fetch(`${node.adminUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(TEST_ADMIN) });
    const { token } = (await login.json()) as { token: string };
    const res = await fetch(`${node.adminUrl}/api/v1/consumers/acme/usage?granularity=minute&from=${new Date(Date.now() - 10 * 60_000).toISOString()}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const usage = (await res.json()) as { source: string; totals: { totalTokens: number } };
    assert.equal(res.status, 200);
    assert.equal(usage.source, 'redis');
    assert.equal(usage.totals.totalTokens, 3 * PER_REQUEST, 'the answers of both processes');
  }
});
