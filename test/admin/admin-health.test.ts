import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { GatewayNode } from '../../gateway/src/node/gateway-node.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { startHarness } from './admin-harness.js';

test('upstream health lists every target; draining is cluster-wide by default, node-local on request', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-health-'));
  const store = new FileStore(join(dir, 'switchboard.json'));
  await store.open();
  const node = new GatewayNode({ store, logger: pino({ level: 'silent' }), port: 0, host: '127.0.0.1' });
  await node.start();
  const h = await startHarness({ store, dir, node });
  t.after(async () => {
    await h.close();
    await node.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const token = await h.login();
  const created = await h.api('POST', '/upstreams', { token, body: { name: 'gpus', targets: [{ url: 'http://127.0.0.1:9' }, { url: 'http://127.0.0.1:10' }] } });
  await node.reload();

  const health = await h.api('GET', `/upstreams/${created.body.id}/health`, { token });
  assert.equal(health.status, 200);
  assert.deepEqual(health.body.map((e: { url: string }) => e.url), ['http://127.0.0.1:9', 'http://127.0.0.1:10']);
  for (const entry of health.body) {
    assert.ok(['healthy', 'unhealthy', 'draining'].includes(entry.state));
    assert.equal(typeof entry.inFlight, 'number');
    assert.equal(typeof entry.latencyMs, 'number');
    assert.ok('lastCheck' in entry);
  }
  assert.equal((await h.api('GET', '/upstreams/nope/health', { token })).status, 404);

  const drained = await h.api('POST', '/upstreams/gpus/targets/drain', { token, body: { url: 'http://127.0.0.1:10' } });
  assert.equal(drained.status, 200, drained.text);
  assert.equal(drained.body[1].state, 'draining');
  const stored = await h.api('GET', '/upstreams/gpus', { token });
  assert.equal(stored.body.targets[1].draining, true, 'cluster drain is a configuration change every node applies');
  assert.equal((await h.api('GET', '/audit?limit=1', { token })).body[0].action, 'update');

  const undrained = await h.api('POST', '/upstreams/gpus/targets/drain', { token, body: { url: 'http://127.0.0.1:10', draining: false } });
  assert.notEqual(undrained.body[1].state, 'draining');
  const local = await h.api('POST', '/upstreams/gpus/targets/drain', { token, body: { url: 'http://127.0.0.1:9', scope: 'node' } });
  assert.equal(local.body[0].state, 'draining');
  assert.notEqual((await h.api('GET', '/upstreams/gpus', { token })).body.targets[0].draining, true, 'node scope leaves the configuration alone');
  const unknown = await h.api('POST', '/upstreams/gpus/targets/drain', { token, body: { url: 'http://127.0.0.1:11' } });
  assert.equal(unknown.status, 400);
});
