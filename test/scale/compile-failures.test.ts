import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import type { RouteStage } from '../../gateway/src/generation/route-stage.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { waitFor } from '../helpers/gateway.js';
import { startNode, tempStore } from './scale-fixtures.js';

let upstream: EchoUpstream;
before(async () => {
  upstream = await startEchoUpstream('pool');
});
after(async () => {
  await upstream.close();
});

const config = (routes: Array<Record<string, unknown>>) => ({
  upstreams: [{ name: 'pool', targets: [{ url: upstream.url }] }],
  routes: [{ name: 'old', upstream: 'pool', paths: ['/old/*'], methods: ['GET'] }, ...routes],
});

async function status(url: string): Promise<number> {
  const res = await request(url);
  await res.body.dump();
  return res.statusCode;
}

const explodes: RouteStage = {
  name: 'explodes',
  applies: (route) => route.name === 'explodes',
  register() {
    throw new Error('the explodes stage refused to register');
  },
};

test('a revision whose stage throws while registering leaves the previous one serving, with lastError, a log line and a counted failure', async (t) => {
  const { store, storePath, dispose } = await tempStore();
  await replaceConfig(store, config([]), 'test');
  const gw = await startNode(store, storePath, dispose, [explodes]);
  t.after(() => gw.close());
  const bad = await replaceConfig(store, config([{ name: 'explodes', upstream: 'pool', paths: ['/new/*'], methods: ['GET'] }]), 'test');
  await waitFor(() => gw.node.lastError?.revision === bad.revision, 5000, 'the failed compile to be reported');

  assert.equal(gw.node.revision, bad.revision - 1);
  assert.match(gw.node.lastError!.message, /explodes stage refused/);
  assert.equal(await status(`${gw.node.url}/old/x`), 200);
  assert.equal(await status(`${gw.node.url}/new/x`), 404);
  const logged = gw.logs.matching(/failed to compile/);
  assert.equal(logged.length, 1);
  assert.equal(logged[0]!.revision, bad.revision);
  assert.match(gw.node.metrics.render(), /^switchboard_config_reload_failures_total 1$/m);
  const health = await (await request(`${gw.node.url}/healthz`)).body.json() as { status: string; revision: number; config: { newestRevision: number; error: string } };
  assert.equal(health.status, 'degraded');
  assert.equal(health.revision, bad.revision - 1);
  assert.equal(health.config.newestRevision, bad.revision);
  assert.match(health.config.error, /explodes/);

  // The next good revision clears it.
  const good = await replaceConfig(store, config([{ name: 'new', upstream: 'pool', paths: ['/new/*'], methods: ['GET'] }]), 'test');
  await waitFor(() => gw.node.revision === good.revision, 5000, 'the good revision in force');
  assert.equal(await status(`${gw.node.url}/new/x`), 200);
  assert.equal(gw.node.lastError, undefined);
  assert.equal(((await (await request(`${gw.node.url}/healthz`)).body.json()) as { status: string }).status, 'ok');
});

test('a route path the router refuses (an unsafe regex) leaves the previous revision serving, and lastError names the route field', async (t) => {
  const { store, storePath, dispose } = await tempStore();
  await replaceConfig(store, config([]), 'test');
  const gw = await startNode(store, storePath, dispose);
  t.after(() => gw.close());
  // Both lanes: a route without stages (front router only) and one with auth (a Fastify scope).
  for (const extra of [{}, { auth: 'api-key' }]) {
    const bad = await replaceConfig(store, config([{ name: 'unsafe', upstream: 'pool', paths: ['/ok/*', '/v1/:id((a+)+)'], methods: ['GET'], ...extra }]), 'test');
    await waitFor(() => gw.node.lastError?.revision === bad.revision, 5000, 'the failed compile to be reported');
    assert.match(gw.node.lastError!.message, /^\/routes\/unsafe\/paths\/1: .*not safe/);
    assert.equal(await status(`${gw.node.url}/old/x`), 200);
  }
  assert.match(gw.node.metrics.render(), /^switchboard_config_reload_failures_total 2$/m);
});

test('an exception a stage throws later, from the event loop, fails that compile and not the process', async (t) => {
  const { store, storePath, dispose } = await tempStore();
  t.after(dispose);
  await replaceConfig(store, config([]), 'test');
  const script = fileURLToPath(new URL('./throwing-stage-node.js', import.meta.url));
  const child = spawn(process.execPath, [script, storePath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await store.close();
  });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await Promise.race([lines.next(), exited.then(() => ({ value: undefined }))]);
    if (line.value === undefined) throw new Error(`the gateway process exited: ${stderr}`);
    return JSON.parse(line.value as string);
  };
  const { url } = await next();
  assert.equal(await status(`${url}/old/x`), 200);

  const bad = await replaceConfig(store, config([{ name: 'throws-later', upstream: 'pool', paths: ['/new/*'], methods: ['GET'] }]), 'test');
  const report = await next();
  assert.equal(report.lastError.revision, bad.revision);
  assert.match(report.lastError.message, /Maximum call stack size exceeded/);
  assert.equal(report.failures, 1);
  assert.equal(child.exitCode, null, 'the gateway process is alive');
  assert.equal(await status(`${url}/old/x`), 200);
  assert.equal(await status(`${url}/new/x`), 404);
});
