import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../gateway/src/main.js', import.meta.url));
const ADMIN = { email: 'ops@example.test', password: 'two-process-password' };

interface Gateway {
  child: ChildProcess;
  publicUrl: string;
  adminUrl: string;
  output: () => string;
  stop(): Promise<void>;
}

/** `npm start` as an operator runs it, on a shared store, with ports chosen by the OS. */
async function startGateway(storeUrl: string): Promise<Gateway> {
  const child = spawn(process.execPath, [MAIN], {
    env: { ...process.env, STORE_URL: storeUrl, DEMO: '0', PORT: '0', HOST: '127.0.0.1', ADMIN_PORT: '0', ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const deadline = Date.now() + 30_000;
  while (!/admin console\s+(\S+)\//.test(out)) {
    if (child.exitCode !== null) throw new Error(`gateway exited: ${out}`);
    if (Date.now() > deadline) throw new Error(`gateway did not start: ${out}`);
    await sleep(50);
  }
  return {
    child,
    publicUrl: /partner traffic\s+(\S+)/.exec(out)![1]!,
    adminUrl: /admin console\s+(\S+)\//.exec(out)![1]!,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function api(g: Gateway, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${g.adminUrl}/api/v1${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

test('two `npm start` processes on one store: a change through one is served by the other within 2 s and survives a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-2proc-'));
  const server = createServer((_req, res) => res.end('{"worker":"w"}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const workerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const storeUrl = `file:${join(dir, 'switchboard.json')}`;
  const started: Gateway[] = [];
  t.after(async () => {
    for (const g of started) await g.stop();
    server.close();
    server.closeAllConnections();
    await rm(dir, { recursive: true, force: true });
  });

  const a = await startGateway(storeUrl);
  started.push(a);
  let b = await startGateway(storeUrl);
  started.push(b);
  assert.ok(!b.output().includes(ADMIN.password) && !a.output().includes(ADMIN.password), 'a given password is never printed');

  const token = (await api(a, 'POST', '/auth/login', undefined, ADMIN)).body.token as string;
  assert.equal((await api(a, 'POST', '/upstreams', token, { name: 'pool', targets: [{ url: workerUrl }] })).status, 201);
  const committedAt = Date.now();
  assert.equal((await api(a, 'POST', '/routes', token, { name: 'ping', paths: ['/ping'], upstream: 'pool' })).status, 201);
  for (;;) {
    const r = await fetch(`${b.publicUrl}/ping`).catch(() => undefined);
    const status = r?.status;
    await r?.text();
    if (status === 200) break;
    if (Date.now() - committedAt > 10_000) throw new Error('node B never served the route');
    await sleep(20);
  }
  const elapsed = Date.now() - committedAt;
  assert.ok(elapsed <= 2000, `served by the other process after ${elapsed} ms`);

  await b.stop();
  b = await startGateway(storeUrl);
  started.push(b);
  const again = await fetch(`${b.publicUrl}/ping`);
  assert.equal(again.status, 200, 'the restarted process serves the change at once');
  await again.text();
  const tokenB = (await api(b, 'POST', '/auth/login', undefined, ADMIN)).body.token as string;
  assert.deepEqual((await api(b, 'GET', '/routes/ping', tokenB)).body.paths, ['/ping']);
});
