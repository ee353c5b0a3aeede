import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGatewayProcess, TEST_ADMIN, type GatewayProcess } from '../helpers/gateway-process.js';

const ADMIN = TEST_ADMIN;
type Gateway = GatewayProcess;
const startGateway = (storeUrl: string) => startGatewayProcess(storeUrl);

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
