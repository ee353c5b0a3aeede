import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { startEchoUpstream, unusedPort, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGatewayProcess } from '../helpers/gateway-process.js';
import { startRedisWithPassword, type PasswordRedis } from './redis-with-password.js';

/**
 * Issue 9, defect 17: credentials in STORE_URL and REDIS_URL must never reach stdout or stderr
 * (container logs keep both). Real processes (`npm start`'s entry point), a real redis-server
 * with requirepass, output read whole.
 */
const REDIS_PASSWORD = 'redis-Pa55-7f3a9c';
const WRONG_PASSWORD = 'wrong-Pa55-0c1d2e';
const MONGO_PASSWORD = 'mongo-Pa55-b4e8d1';

let dir: string;
let storeUrl: string;
let upstream: EchoUpstream;
let redis: PasswordRedis;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchboard-secrets-'));
  upstream = await startEchoUpstream('echo');
  const path = join(dir, 'store.json');
  const store = new FileStore(path);
  await store.open();
  // A shared limit: the gateway must talk to Redis for these requests.
  await replaceConfig(store, {
    upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
    routes: [{ name: 'limited', methods: ['GET'], paths: ['/limited'], upstream: 'echo', rateLimit: { max: 1000, windowMs: 60000 } }],
    consumers: [],
  }, 'test');
  await store.close();
  storeUrl = `file:${path}`;
  redis = await startRedisWithPassword(REDIS_PASSWORD);
});
after(async () => {
  await redis.stop();
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
});

async function waitForOutput(output: () => string, pattern: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(output())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in:\n${output()}`);
    await sleep(50);
  }
}

test('REDIS_URL with a password: shared limits work, Redis going away is logged, and the password appears nowhere in stdout or stderr', async () => {
  const port = redis.port;
  const gw = await startGatewayProcess(storeUrl, { REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:${port}/0`, LOG_LEVEL: 'debug', ACCESS_LOG: '1' });
  try {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.publicUrl}/limited`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('ratelimit-limit'), '1000');
      await res.text();
    }
    await redis.stop();
    await fetch(`${gw.publicUrl}/limited`).then((r) => r.text());
    await waitForOutput(gw.output, /REDIS UNAVAILABLE/, 15_000);
  } finally {
    await gw.stop();
    redis = await startRedisWithPassword(REDIS_PASSWORD);
  }
  const out = gw.output();
  // The banner names the Redis it shares limits through, with the password masked.
  assert.match(out, new RegExp(`rate-limit redis\\s+redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}/0`), out);
  assert.ok(!out.includes(REDIS_PASSWORD), `the Redis password leaked:\n${out}`);
});

test('REDIS_URL with a wrong password: the refusal is logged without the password', async () => {
  const gw = await startGatewayProcess(storeUrl, { REDIS_URL: `redis://default:${WRONG_PASSWORD}@127.0.0.1:${redis.port}`, LOG_LEVEL: 'debug' });
  try {
    await fetch(`${gw.publicUrl}/limited`).then((r) => r.text());
    await waitForOutput(gw.output, /REDIS UNAVAILABLE/, 15_000);
  } finally {
    await gw.stop();
  }
  assert.ok(!gw.output().includes(WRONG_PASSWORD), `the Redis password leaked:\n${gw.output()}`);
});

test('STORE_URL with a password: a start-up failure names the store without the password', async () => {
  const port = await unusedPort();
  const main = fileURLToPath(new URL('../../gateway/src/main.js', import.meta.url));
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, STORE_URL: `mongodb://switchboard:${MONGO_PASSWORD}@127.0.0.1:${port}/sb?serverSelectionTimeoutMS=300`, REDIS_URL: `redis://:${REDIS_PASSWORD}@127.0.0.1:${redis.port}`, PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', DEMO: '0', LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.notEqual(code, 0);
  assert.match(out, /failed to start/);
  assert.ok(!out.includes(MONGO_PASSWORD) && !out.includes(REDIS_PASSWORD), `a password leaked:\n${out}`);
});

test('a malformed TRUSTED_PROXIES stops the process at start-up, naming the entry', async () => {
  await assert.rejects(startGatewayProcess(storeUrl, { TRUSTED_PROXIES: '192.168.0.0/16, 10.0.0.0/' }), /TRUSTED_PROXIES entry 2 "10\.0\.0\.0\/" has an invalid prefix length/);
});
