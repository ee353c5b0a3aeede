import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { accepts, get, seedStore, sseSummary, startGateway, streamChat, type Answer, type Started } from './lifecycle-harness.js';

/** Long enough that the checks inside it still fit on a machine shared with the rest of the suite. */
const DRAIN_DELAY_MS = 6_000;

/** A request on a keep-alive connection opened before the signal. */
function onKeptAlive(agent: Agent, url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function sigtermDuringStream(how: 'npm' | 'node', workers: number, streamSeconds: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-drain-'));
  const tokenMs = 100;
  const gpu = await startGpuWorker({ name: 'gpu-drain', model: 'sim', tokenMs, prefillMs: 5, slots: 4 });
  const storeUrl = `file:${join(dir, 'store.json')}`;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let gateway: Started | undefined;
  try {
    await seedStore(storeUrl, [gpu.url], 1_000);
    gateway = await startGateway(how, storeUrl, { WORKERS: String(workers), DRAIN_DELAY_MS: String(DRAIN_DELAY_MS), SHUTDOWN_TIMEOUT_MS: '110000' });
    assert.equal((await get(`${gateway.publicUrl}/readyz`)).status, 200, 'ready before the signal');
    const before = await onKeptAlive(agent, `${gateway.publicUrl}/livez`);
    assert.equal(before.headers.connection, 'keep-alive');

    const tokens = Math.round((streamSeconds * 1000) / tokenMs);
    const stream = streamChat(gateway.publicUrl, tokens);
    await stream.started;
    const signalledAt = Date.now();
    gateway.child.kill('SIGTERM');

    // At once: the next probe on a new connection says 503, on both listeners.
    await sleep(300);
    const ready = await get(`${gateway.publicUrl}/readyz`);
    assert.equal(ready.status, 503, `public /readyz while draining: ${ready.body}`);
    assert.match(ready.body, /draining/);
    assert.equal((await get(`${gateway.adminUrl}/readyz`)).status, 503, 'admin /readyz while draining');
    assert.equal((await get(`${gateway.publicUrl}/livez`)).status, 200, 'still live while draining');

    // During the drain delay: new connections are served, and told to close.
    await sleep(700);
    const fresh = await get(`${gateway.publicUrl}/livez`);
    assert.equal(fresh.status, 200, 'a new connection during the drain delay is served');
    assert.equal(fresh.headers.connection, 'close');
    const kept = await onKeptAlive(agent, `${gateway.publicUrl}/livez`);
    assert.equal(kept.status, 200);
    assert.equal(kept.headers.connection, 'close', 'a keep-alive client is told to reconnect elsewhere');
    assert.ok(Date.now() - signalledAt < DRAIN_DELAY_MS, 'these checks ran inside the drain delay');

    // After it: refused.
    await sleep(Math.max(0, signalledAt + DRAIN_DELAY_MS - Date.now()));
    let refusedAt: number | undefined;
    while (refusedAt === undefined && Date.now() - signalledAt < DRAIN_DELAY_MS + 5_000) {
      if (!(await accepts(gateway.port))) refusedAt = Date.now();
      else await sleep(100);
    }
    assert.ok(refusedAt !== undefined, 'new connections are refused after the drain delay');

    const { status, body } = await stream.done;
    assert.equal(status, 200);
    const summary = sseSummary(body);
    assert.ok(summary.finished, `the stream ran to [DONE]: ${body.slice(-200)}`);
    assert.ok(summary.chunks >= tokens - 1, `all ${tokens} tokens arrived, got ${summary.chunks}`);
    const { code, signal } = await gateway.exited;
    assert.equal(signal, null);
    assert.equal(code, 0, `exit code; output: ${gateway.output()}`);
    assert.ok(Date.now() - signalledAt >= streamSeconds * 1000 - 2_000, 'the process waited for the stream');
  } finally {
    agent.destroy();
    if (gateway && gateway.child.exitCode === null) gateway.child.kill('SIGKILL');
    await gpu.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('SIGTERM to `npm start` during a 40 s stream: /readyz 503 at once, new connections accepted for DRAIN_DELAY_MS then refused, the stream completes, exit code 0', async () => {
  await sigtermDuringStream('npm', 1, 40);
});

test('WORKERS=2: SIGTERM to the primary during a stream drains both workers the same way and the node exits 0', async () => {
  await sigtermDuringStream('node', 2, 8);
});
