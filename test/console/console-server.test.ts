import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { startAdmin } from '../../gateway/src/admin/admin-server.js';
import { BUCKET_MS, TrafficWindow } from '../../gateway/src/metrics/traffic-window.js';
import { GatewayNode } from '../../gateway/src/node/gateway-node.js';
import { startGpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { FileStore } from '../../gateway/src/store/file-store.js';

const EMAIL = 'root@example.test';
const PASSWORD = 'correct horse battery staple';

async function adminOn(consoleDir: string, withNode = false) {
  const dir = await mkdtemp(join(tmpdir(), 'sb-console-srv-'));
  const store = new FileStore(join(dir, 'switchboard.json'), { pollMs: 100 });
  await store.open();
  const logger = pino({ level: 'silent' });
  const node = withNode ? new GatewayNode({ store, logger, port: 0, host: '127.0.0.1' }) : undefined;
  await node?.start();
  const admin = await startAdmin({ env: { adminPort: 0, adminHost: '127.0.0.1', adminEmail: EMAIL, adminPassword: PASSWORD }, store, node, logger, metrics: node?.metrics, consoleDir });
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const r = await fetch(admin.url + path, { headers });
    return { status: r.status, type: r.headers.get('content-type') ?? '', csp: r.headers.get('content-security-policy'), text: await r.text() };
  };
  const token = async () => {
    const r = await fetch(`${admin.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: EMAIL, password: PASSWORD }) });
    return ((await r.json()) as { token: string }).token;
  };
  return {
    admin,
    node,
    get,
    token,
    close: async () => {
      await admin.close();
      await node?.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

test('without a built console, / says how to build it, and the API, docs and metrics still answer', async (t) => {
  const missing = join(tmpdir(), `sb-no-console-${process.pid}/`);
  const a = await adminOn(missing);
  t.after(a.close);
  const home = await a.get('/');
  assert.equal(home.status, 200);
  assert.match(home.type, /^text\/plain/);
  assert.match(home.text, /not built/);
  assert.match(home.text, /npm run build/);
  assert.equal((await a.get('/upstreams/gpus')).status, 200, 'a client route gets the same explanation');
  const api = await a.get('/api/v1/nope');
  assert.equal(api.status, 404);
  assert.match(api.type, /problem\+json/);
  assert.equal((await a.get('/api/v1/openapi.json')).status, 200);
  assert.equal((await a.get('/metrics')).status, 200);
  assert.equal((await a.get('/healthz')).status, 200);
});

test('a built console is served at / with a fallback for client routes that never shadows the API', async (t) => {
  const dist = await mkdtemp(join(tmpdir(), 'sb-console-dist-'));
  await mkdir(join(dist, 'assets'));
  await writeFile(join(dist, 'index.html'), '<!doctype html><title>console</title><div id="root"></div>');
  await writeFile(join(dist, 'assets', 'app-1234.js'), 'console.log(1)');
  const a = await adminOn(dist + '/');
  t.after(async () => {
    await a.close();
    await rm(dist, { recursive: true, force: true });
  });
  const home = await a.get('/');
  assert.equal(home.status, 200);
  assert.match(home.text, /<div id="root">/);
  assert.match(home.csp ?? '', /default-src 'self'/, 'the console page carries a content security policy');
  assert.match(home.csp ?? '', /frame-ancestors 'none'/);
  // The forms' validators are compiled at build time (admin-ui/form-validators.ts): no string is evaluated as code.
  assert.match(home.csp ?? '', /script-src 'self';/);
  assert.doesNotMatch(home.csp ?? '', /unsafe-eval/);
  for (const path of ['/upstreams', '/routes/chat', '/consumers/acme?tab=keys']) {
    const page = await a.get(path);
    assert.equal(page.status, 200, path);
    assert.match(page.text, /<div id="root">/, `${path} reaches the app`);
  }
  const asset = await a.get('/assets/app-1234.js');
  assert.equal(asset.status, 200);
  assert.match(asset.type, /javascript/);
  assert.equal((await a.get('/assets/app-9999.js')).status, 404, 'a stale asset name is a 404, not the app');
  const api = await a.get('/api/v1/no-such-thing');
  assert.equal(api.status, 404);
  assert.match(api.type, /problem\+json/, 'unknown API paths stay problems');
  assert.equal((await a.get('/api/v1/upstreams')).status, 401, 'the API keeps its guard');
  assert.match((await a.get('/metrics')).type, /^text\/plain/);
  const docs = await a.get('/api/docs/');
  assert.equal(docs.status, 200);
  assert.doesNotMatch(docs.text, /<div id="root">/, 'the API docs are not shadowed');
});

test('GET /overview reports the revision in force, pool health and per-route traffic', async (t) => {
  const worker = await startGpuWorker({ prefillMs: 1, tokenMs: 1, defaultMaxTokens: 2 });
  const a = await adminOn(join(tmpdir(), 'none/'), true);
  t.after(async () => {
    await a.close();
    await worker.close();
  });
  const token = await a.token();
  const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${a.admin.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}), ...headers }, ...(body ? { body: JSON.stringify(body) } : {}) });
  assert.equal((await call('POST', '/upstreams', { name: 'gpus', targets: [{ url: worker.url }, { url: 'http://127.0.0.1:9', weight: 2 }] })).status, 201);
  assert.equal((await call('POST', '/routes', { name: 'chat', paths: ['/v1/*'], upstream: 'gpus' })).status, 201);
  await a.node!.reload();
  for (let i = 0; i < 5; i++) await (await fetch(`${a.node!.url}/v1/models`)).text();
  const overview = (await (await call('GET', '/overview')).json()) as any;
  assert.equal(overview.node.revision, a.node!.revision);
  assert.ok(Date.parse(overview.node.since) > Date.now() - 60_000, 'when the revision came into force');
  assert.equal(overview.node.lastError, null);
  assert.deepEqual(overview.pools, [{ name: 'gpus', healthy: 2, draining: 0, total: 2 }]);
  assert.equal(overview.bucketSeconds, 5);
  assert.equal(overview.windowMinutes, 15);
  const chat = overview.routes.find((r: { route: string }) => r.route === 'chat');
  assert.ok(chat.requests >= 5, `counted ${chat.requests}`);
  assert.equal(chat.points.length, 180);
  assert.ok(typeof chat.p50 === 'number' && typeof chat.p99 === 'number');

  // Weight: a configuration change guarded by If-Match.
  const stale = await call('POST', '/upstreams/gpus/targets/weight', { url: 'http://127.0.0.1:9', weight: 5 }, { 'if-match': '"99"' });
  assert.equal(stale.status, 412);
  const changed = await call('POST', '/upstreams/gpus/targets/weight', { url: 'http://127.0.0.1:9', weight: 5 }, { 'if-match': '"1"' });
  assert.equal(changed.status, 200, await changed.clone().text());
  assert.equal(changed.headers.get('etag'), '"2"');
  assert.equal(((await changed.json()) as any).targets[1].weight, 5);
  const unknown = await call('POST', '/upstreams/gpus/targets/weight', { url: 'http://127.0.0.1:10', weight: 5 });
  assert.equal(unknown.status, 400);
  const bad = await call('POST', '/upstreams/gpus/targets/weight', { url: 'http://127.0.0.1:9', weight: -1 });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as any).errors[0].path, /weight/);
});

test('the traffic window gives rate, error rate and quantiles per 5-second bucket, and forgets after 15 minutes', () => {
  let now = 1_000 * BUCKET_MS;
  const window = new TrafficWindow(() => now);
  for (let i = 0; i < 100; i++) window.record('chat', i < 10 ? 502 : 200, i < 50 ? 10 : 100);
  let [chat] = window.snapshot();
  assert.equal(chat!.route, 'chat');
  assert.equal(chat!.requests, 100);
  assert.equal(chat!.errors, 10);
  const last = chat!.points.at(-1)!;
  assert.equal(last.requestsPerSecond, 20);
  assert.equal(last.errorRate, 0.1);
  assert.ok(last.p50! > 7 && last.p50! <= 10, `p50 ${last.p50}`);
  assert.ok(last.p99! > 70 && last.p99! <= 100, `p99 ${last.p99}`);
  assert.equal(chat!.points.at(-2)!.requestsPerSecond, 0);
  assert.equal(chat!.points.at(-2)!.p50, null);

  now += 179 * BUCKET_MS;
  window.record('chat', 200, 1);
  [chat] = window.snapshot();
  assert.equal(chat!.requests, 101, 'the first bucket is still inside the window');
  now += BUCKET_MS;
  window.record('chat', 200, 1);
  [chat] = window.snapshot();
  assert.equal(chat!.requests, 2, 'a bucket reused 15 minutes later starts from zero');
  now += 200 * BUCKET_MS;
  assert.deepEqual(window.snapshot(), [], 'routes without requests in the window are left out');
});
