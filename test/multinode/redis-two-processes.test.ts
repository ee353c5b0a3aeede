import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { startRedis } from '../plugins/redis-server.js';

const run = promisify(execFile);
const CLI = new URL('../../../bin/switchboard.js', import.meta.url).pathname;

test('two gateway processes with REDIS_URL share one rate-limit count', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-redis-2proc-'));
  const redis = await startRedis();
  const upstream = await startEchoUpstream('echo');
  const started: GatewayProcess[] = [];
  t.after(async () => {
    for (const g of started) await g.stop();
    await upstream.close();
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const storeUrl = `file:${join(dir, 'switchboard.json')}`;
  const file = join(dir, 'config.json');
  await writeFile(
    file,
    JSON.stringify({
      upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
      routes: [{ name: 'limited', methods: ['GET'], paths: ['/limited'], upstream: 'echo', rateLimit: { max: 6, windowMs: 60000, by: 'ip' } }],
      consumers: [],
    }),
  );
  await run(process.execPath, [CLI, 'import', file], { env: { ...process.env, STORE_URL: storeUrl } });
  const a = await startGatewayProcess(storeUrl, { REDIS_URL: redis.url });
  started.push(a);
  const b = await startGatewayProcess(storeUrl, { REDIS_URL: redis.url });
  started.push(b);

  const seen: Array<[number, string | null]> = [];
  for (let i = 0; i < 8; i++) {
    const node = i % 2 === 0 ? a : b;
    const res = await fetch(`${node.publicUrl}/limited`);
    await res.text();
    seen.push([res.status, res.headers.get('ratelimit-remaining')]);
  }
  assert.deepEqual(
    seen.map(([s]) => s),
    [200, 200, 200, 200, 200, 200, 429, 429],
    `the two processes counted together: ${JSON.stringify(seen)}`,
  );
  assert.deepEqual(
    seen.slice(0, 6).map(([, r]) => r),
    ['5', '4', '3', '2', '1', '0'],
  );
});
