/**
 * A node without REDIS_URL never loads ioredis (≈ 2 MiB of RSS it would hold for nothing), and
 * the first connection does. Run in a child: this test process has loaded ioredis already.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dist = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

const PROBE = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const loaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/ioredis/'));
// Everything a gateway process imports (cluster/run-gateway.ts), and the stages' counter store.
await import(${JSON.stringify(dist('gateway/src/cluster/run-gateway.js'))});
const { CounterStore } = await import(${JSON.stringify(dist('plugins/rate-limit/counter-store.js'))});
new CounterStore({ redisUrl: undefined, logger: console, metrics: () => undefined });
const before = loaded();
const { connectRedis } = await import(${JSON.stringify(dist('plugins/rate-limit/redis-connection.js'))});
const redis = connectRedis({ kind: 'single', url: 'redis://127.0.0.1:1' }, { lazyConnect: true });
console.log(JSON.stringify({ before, after: loaded(), hasDefineCommand: typeof redis.defineCommand === 'function' }));
redis.disconnect();
`;

test('ioredis is loaded by the first Redis connection, not by a node without REDIS_URL', () => {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE], { encoding: 'utf8', timeout: 60_000 });
  assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1)!), { before: false, after: true, hasDefineCommand: true });
});
