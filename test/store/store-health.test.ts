import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import type { AdminServer } from '../../gateway/src/admin/admin-server.js';
import { startAdminBeside } from '../helpers/admin-beside.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { caughtUp } from '../plugins/fixtures.js';

let up: EchoUpstream;
let gw: TestGateway;
let admin: AdminServer;
before(async () => {
  up = await startEchoUpstream('h');
  gw = await startGateway({ upstreams: [{ name: 'pool', targets: [{ url: up.url }] }], routes: [{ name: 'r', methods: ['GET'], paths: ['/r'], upstream: 'pool' }], consumers: [] });
  admin = await startAdminBeside(gw, { email: 'health@example.test', password: 'health-test-password' });
});
after(async () => {
  await admin.close();
  await gw.close();
  await up.close();
});

const healthz = async () => {
  const r = await fetch(`${gw.url}/healthz`);
  return { status: r.status, body: (await r.json()) as { status: string; revision: number; store: string; storeCheckedAt?: string } };
};

test('/healthz says the store is unreachable while the node serves its last good revision (still 200), and reachable again after', async () => {
  // The admin's first start commits its user: the node takes that revision when its watcher sees it.
  await caughtUp(gw);
  const revision = gw.node.revision;
  await waitFor(async () => (await healthz()).body.storeCheckedAt !== undefined, 5000, 'a first store check');
  assert.deepEqual((await healthz()).body, { status: 'ok', revision, store: 'reachable', storeCheckedAt: (await healthz()).body.storeCheckedAt });

  const good = await readFile(gw.storePath, 'utf8');
  await writeFile(gw.storePath, 'garbage, not JSON');
  await waitFor(async () => (await healthz()).body.store === 'unreachable', 10_000, '/healthz to notice the unreadable store');
  const down = await healthz();
  assert.equal(down.status, 200, 'the node still serves');
  assert.equal(down.body.status, 'degraded');
  assert.equal(down.body.revision, revision, 'the revision served');
  assert.equal((await fetch(`${gw.url}/r`).then((r) => r.status)), 200, 'and proxies with it');
  const adminHealth = (await fetch(`${admin.url}/healthz`).then((r) => r.json())) as { status: string; store: string };
  assert.deepEqual([adminHealth.status, adminHealth.store], ['degraded', 'unreachable'], 'the admin listener says the same');

  await writeFile(gw.storePath, good);
  await waitFor(async () => (await healthz()).body.store === 'reachable', 10_000, '/healthz to see the store back');
  assert.equal((await healthz()).body.status, 'ok');
});
