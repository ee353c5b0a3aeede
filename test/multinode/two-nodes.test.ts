import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { defaultStages } from '../../plugins/index.js';
import { GatewayNode } from '../../gateway/src/node/gateway-node.js';
import { systemRoutes } from '../../gateway/src/node/system-routes.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { ADMIN_PASSWORD, LogCapture, routeBody, startHarness, type AdminHarness } from '../admin/admin-harness.js';

/** A stand-in GPU worker that says who it is. */
async function worker(name: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ worker: name }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

interface GatewayProcess {
  node: GatewayNode;
  store: FileStore;
  admin: AdminHarness;
  logs: LogCapture;
  close(): Promise<void>;
}

/** One gateway "process": its own store instance on the shared file, its own node and admin listener. */
async function startGateway(path: string, dir: string): Promise<GatewayProcess> {
  const store = new FileStore(path);
  await store.open();
  const logs = new LogCapture();
  const logger = pino({ level: 'info' }, logs);
  const node = new GatewayNode({ store, logger, port: 0, host: '127.0.0.1', stages: defaultStages(), systemRoutes });
  await node.start();
  const bound = await startHarness({ store, dir, node });
  return {
    node,
    store,
    admin: bound,
    logs,
    close: async () => {
      await bound.close();
      await node.close();
      await store.close();
    },
  };
}

async function served(node: GatewayNode, path: string): Promise<{ status: number; worker?: string }> {
  const response = await fetch(`${node.url}${path}`);
  const text = await response.text();
  try {
    return { status: response.status, worker: (JSON.parse(text) as { worker?: string }).worker };
  } catch {
    return { status: response.status };
  }
}

async function until<T>(probe: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (;;) {
    const value = await probe().catch((err) => err as T);
    if (ok(value)) return { value, ms: Date.now() - started };
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await sleep(10);
  }
}

describe('two gateway nodes on one store', () => {
  let dir: string;
  let path: string;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let one: Awaited<ReturnType<typeof worker>>;
  let two: Awaited<ReturnType<typeof worker>>;
  let tokenA: string;
  const secrets: string[] = [ADMIN_PASSWORD];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-multinode-'));
    path = join(dir, 'switchboard.json');
    one = await worker('one');
    two = await worker('two');
    a = await startGateway(path, dir);
    b = await startGateway(path, dir);
    tokenA = await a.admin.login();
    const created = await a.admin.api('POST', '/upstreams', { token: tokenA, body: { name: 'gpus', targets: [{ url: one.url }] } });
    assert.equal(created.status, 201);
    assert.equal((await a.admin.api('POST', '/routes', { token: tokenA, body: routeBody('hello', 'gpus') })).status, 201);
    await until(() => served(b.node, '/hello'), (r) => r.status === 200, 'node B to serve the first route');
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await one?.close();
    await two?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a change through node A\'s admin API is served by node B within 2 s, with zero failed requests in a client loop', async () => {
    let running = true;
    const outcomes = { ok: 0, failed: [] as string[] };
    const loop = async () => {
      while (running) {
        try {
          const r = await served(b.node, '/hello');
          if (r.status === 200) outcomes.ok++;
          else outcomes.failed.push(`status ${r.status}`);
        } catch (err) {
          outcomes.failed.push((err as Error).message);
        }
      }
    };
    const loops = [loop(), loop(), loop()];
    await sleep(300);
    const current = await a.admin.api('GET', '/upstreams/gpus', { token: tokenA });
    const changedAt = Date.now();
    const put = await a.admin.api('PUT', '/upstreams/gpus', { token: tokenA, body: { ...current.body, targets: [{ url: two.url }] }, headers: { 'if-match': current.headers.get('etag')! } });
    assert.equal(put.status, 200);
    const { ms } = await until(() => served(b.node, '/hello'), (r) => r.worker === 'two', 'node B to use the new target');
    const elapsed = Date.now() - changedAt;
    await sleep(300);
    running = false;
    await Promise.all(loops);
    assert.ok(elapsed <= 2000, `node B served the change after ${elapsed} ms (poll ${ms} ms)`);
    assert.deepEqual(outcomes.failed, [], `no request failed across the change (${outcomes.ok} succeeded)`);
    assert.ok(outcomes.ok > 20);
  });

  test('a rollback through node B restores the earlier routes exactly on both nodes; the audit says who did what', async () => {
    const tokenB = await b.admin.login();
    const revisionBefore = (await a.store.read()).revision;
    const routesBefore = (await b.admin.api('GET', '/routes', { token: tokenB })).body;
    assert.equal((await a.admin.api('POST', '/routes', { token: tokenA, body: routeBody('extra', 'gpus') })).status, 201);
    assert.equal((await a.admin.api('DELETE', '/routes/hello', { token: tokenA })).status, 204);
    await until(() => served(b.node, '/hello'), (r) => r.status === 404, 'node B to drop the deleted route');

    const restore = await b.admin.api('POST', `/revisions/${revisionBefore}/restore`, { token: tokenB });
    assert.equal(restore.status, 200);
    const routesAfter = (await a.admin.api('GET', '/routes', { token: tokenA })).body;
    const strip = (rs: Array<Record<string, unknown>>) => rs.map(({ version: _v, updatedAt: _u, ...r }) => r);
    assert.deepEqual(strip(routesAfter), strip(routesBefore));
    await until(() => served(a.node, '/hello'), (r) => r.status === 200, 'node A to serve the restored route');
    await until(() => served(b.node, '/hello'), (r) => r.status === 200, 'node B to serve the restored route');
    assert.equal((await served(b.node, '/extra')).status, 404);

    const audit = (await b.admin.api('GET', '/audit?limit=3', { token: tokenB })).body;
    assert.deepEqual(audit.map((e: { action: string; kind: string }) => `${e.action} ${e.kind}`), ['restore config', 'delete route', 'create route']);
    assert.ok(audit.every((e: { actor: string }) => e.actor === 'root@example.test'));
  });

  test('PUT /config with one bad reference changes nothing on either node', async () => {
    const exported = await a.admin.api('GET', '/config', { token: tokenA });
    const revision = (await a.store.read()).revision;
    const bad = structuredClone(exported.body);
    bad.routes.push(routeBody('broken', 'no-such-upstream'));
    bad.upstreams[0].targets = [{ url: one.url }];
    const refused = await a.admin.api('PUT', '/config', { token: tokenA, body: bad });
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body.errors.map((e: { path: string }) => e.path), [`/routes/${bad.routes.length - 1}/upstream`]);
    await sleep(300);
    assert.equal((await b.store.read()).revision, revision);
    assert.equal(b.node.revision, revision);
    assert.equal((await served(b.node, '/hello')).worker, 'two');
  });

  test('a restart on the same store keeps every change', async () => {
    const before = (await a.admin.api('GET', '/config', { token: tokenA })).body;
    await b.close();
    b = await startGateway(path, dir);
    const tokenB = await b.admin.login();
    assert.deepEqual((await b.admin.api('GET', '/config', { token: tokenB })).body, before);
    assert.equal((await served(b.node, '/hello')).worker, 'two');
  });

  test('no secret appears in any API answer, the export, the audit or a log line', async () => {
    const token = await a.admin.login();
    const partner = await a.admin.api('POST', '/consumers', { token, body: { name: 'acme', jwt: [{ issuer: 'acme-signer', algorithm: 'HS256', secret: 'acme-hmac-secret-do-not-leak-1234' }] } });
    assert.equal(partner.status, 201);
    secrets.push('acme-hmac-secret-do-not-leak-1234');
    const user = await a.admin.api('POST', '/users', { token, body: { email: 'ops@example.test', role: 'viewer', password: 'ops-password-never-shown' } });
    assert.equal(user.status, 201);
    secrets.push('ops-password-never-shown');
    const issued = await a.admin.api('POST', '/consumers/acme/keys', { token, body: {} });
    assert.equal(issued.status, 201, issued.text);
    const plaintextKey = issued.body.key as string;

    // Read everything an operator can read, on both nodes.
    const tokenB = await b.admin.login('ops@example.test', 'ops-password-never-shown');
    for (const h of [a.admin, b.admin]) {
      const t = h === a.admin ? token : tokenB;
      for (const p of ['/upstreams', '/routes', '/consumers', '/consumers/acme', '/config', '/audit?limit=1000', '/revisions', '/consumers/acme/keys', '/auth/me'])
        await h.api('GET', p, { token: t });
      await h.api('GET', '/users', { token });
      const revisions = (await h.api('GET', '/revisions', { token: t })).body as Array<{ revision: number }>;
      for (const r of revisions.slice(0, 5)) await h.api('GET', `/revisions/${r.revision}`, { token: t });
    }

    const state = await a.store.read();
    for (const u of state.users) secrets.push(u.passwordHash);
    for (const k of state.keys) secrets.push(k.hash);
    for (const value of Object.values(state.secrets)) secrets.push(value);
    assert.ok(state.secrets.adminJwtSecret, 'the admin token secret lives in the store');

    const answers = [...a.admin.answers, ...b.admin.answers];
    const logLines = [...a.logs.lines, ...b.logs.lines, ...a.admin.logs.lines, ...b.admin.logs.lines];
    for (const secret of secrets) {
      for (const answer of answers) {
        // The password travels in login requests only; answers never carry it.
        assert.ok(!answer.text.includes(secret), `an API answer leaks a secret: ${answer.text.slice(0, 200)}`);
      }
      for (const line of logLines) assert.ok(!line.includes(secret), `a log line leaks a secret: ${line.slice(0, 200)}`);
    }
    {
      const elsewhere = answers.filter((x) => x !== issued && x.text.includes(plaintextKey));
      assert.deepEqual(elsewhere, [], 'the plaintext API key appears only in the answer that issued it');
      for (const line of logLines) assert.ok(!line.includes(plaintextKey));
    }
    // And the exported/audited documents as stored by the CLI path.
    const { exportConfig } = await import('../../gateway/src/config/export-config.js');
    const exportText = JSON.stringify(exportConfig(state));
    const auditText = JSON.stringify(await a.store.listAudit({ limit: 10_000 }));
    for (const secret of secrets) {
      assert.ok(!exportText.includes(secret), 'export leaks a secret');
      assert.ok(!auditText.includes(secret), 'the stored audit log leaks a secret');
    }
    assert.ok((await readFile(path, 'utf8')).includes(state.secrets.adminJwtSecret!), 'sanity: the scan looked for real values');
  });
});
