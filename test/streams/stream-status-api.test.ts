import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { GatewayNode } from '../../gateway/src/node/gateway-node.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { startHarness } from '../admin/admin-harness.js';
import { echoTarget, freePort, tcpClient } from './echo-pool.js';

test("GET /streams/:id/status shows this node's listener: bound with its open connections, or the bind error", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-stream-status-'));
  const store = new FileStore(join(dir, 'switchboard.json'));
  await store.open();
  const node = new GatewayNode({ store, logger: pino({ level: 'silent' }), port: 0, host: '127.0.0.1' });
  await node.start();
  const h = await startHarness({ store, dir, node });
  const target = await echoTarget('a');
  const squatter = createServer();
  const [port, taken] = [await freePort(), await freePort()];
  await new Promise<void>((resolve) => squatter.listen(taken, '127.0.0.1', resolve));
  t.after(async () => {
    await h.close();
    await node.close();
    await store.close();
    await target.close();
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });
  const token = await h.login();
  assert.equal((await h.api('POST', '/upstreams', { token, body: { name: 'tcp-pool', targets: [{ url: target.url }] } })).status, 201);
  assert.equal((await h.api('POST', '/streams', { token, body: { name: 'echo', port, upstream: 'tcp-pool' } })).status, 201);
  assert.equal((await h.api('POST', '/streams', { token, body: { name: 'blocked', port: taken, upstream: 'tcp-pool' } })).status, 201);
  await node.reload();

  const client = await tcpClient(port);
  await client.ask('hi');
  const bound = await h.api('GET', '/streams/echo/status', { token });
  assert.equal(bound.status, 200, bound.text);
  assert.deepEqual(bound.body, { name: 'echo', host: '127.0.0.1', port, listening: true, activeConnections: 1 });
  client.socket.destroy();

  const blocked = await h.api('GET', '/streams/blocked/status', { token });
  assert.equal(blocked.status, 200);
  assert.equal(blocked.body.listening, false);
  assert.match(blocked.body.lastError.message, /EADDRINUSE/);

  const missing = await h.api('GET', '/streams/nope/status', { token });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.type, 'urn:switchboard:problem:not-found');
  assert.match(missing.body.detail, /no stream with id or name "nope"/);
});
