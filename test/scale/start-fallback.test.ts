import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
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

const config = (routes: Array<Record<string, unknown>>) => ({ upstreams: [{ name: 'pool', targets: [{ url: upstream.url }] }], routes });
const route = (name: string, path: string) => ({ name, upstream: 'pool', paths: [path], methods: ['GET'] });
/** Stored without a dry compile, as an older build or another tool could have. */
const unsafe = route('unsafe', '/v1/:id((a+)+)');

async function get(url: string): Promise<{ status: number; body: any }> {
  const res = await request(url);
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}

test('a node whose store’s newest revision cannot compile starts on the newest one that does, and says so on /healthz and in its log', async (t) => {
  const { store, storePath, dispose } = await tempStore();
  const good = await replaceConfig(store, config([route('good', '/good/*')]), 'test');
  const bad = await replaceConfig(store, config([route('good', '/good/*'), route('later', '/later/*'), unsafe]), 'test');
  const gw = await startNode(store, storePath, dispose);
  t.after(() => gw.close());

  assert.equal(gw.node.revision, good.revision);
  assert.equal((await get(`${gw.node.url}/good/x`)).status, 200);
  assert.equal((await get(`${gw.node.url}/later/x`)).status, 404);
  const health = await get(`${gw.node.url}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(health.body.status, 'degraded');
  assert.equal(health.body.revision, good.revision);
  assert.equal(health.body.config.newestRevision, bad.revision);
  assert.match(health.body.config.error, /\/routes\/unsafe\/paths\/0/);
  const loud = gw.logs.matching(new RegExp(`revision ${bad.revision} does not compile; this node serves revision ${good.revision}`));
  assert.equal(loud.length, 1);
  assert.equal(loud[0]!.level, 50, 'an error line');

  // A newer revision that compiles takes over, and the node is healthy again.
  const fixed = await replaceConfig(store, config([route('good', '/good/*'), route('later', '/later/*')]), 'test');
  await waitFor(() => gw.node.revision === fixed.revision, 5000, 'the fixed revision in force');
  assert.equal((await get(`${gw.node.url}/later/x`)).status, 200);
  assert.equal((await get(`${gw.node.url}/healthz`)).body.status, 'ok');
});

test('a node whose store holds no revision that compiles still starts: /healthz says why, everything else is a 503, until a good revision arrives', async (t) => {
  const { store, storePath, dispose } = await tempStore();
  const bad = await replaceConfig(store, config([route('good', '/good/*'), unsafe]), 'test');
  const gw = await startNode(store, storePath, dispose);
  t.after(() => gw.close());

  const health = await get(`${gw.node.url}/healthz`);
  assert.equal(health.status, 200);
  assert.equal(health.body.status, 'degraded');
  assert.equal(health.body.config.servingRevision, -1);
  assert.equal(health.body.config.newestRevision, bad.revision);
  const refused = await get(`${gw.node.url}/good/x`);
  assert.equal(refused.status, 503);
  assert.equal(refused.body.type, 'urn:switchboard:problem:configuration-unavailable');
  assert.match(refused.body.detail, /no stored configuration revision compiles/);

  const fixed = await replaceConfig(store, config([route('good', '/good/*')]), 'test');
  await waitFor(() => gw.node.revision === fixed.revision, 5000, 'the fixed revision in force');
  assert.equal((await get(`${gw.node.url}/good/x`)).status, 200);
  assert.equal((await get(`${gw.node.url}/healthz`)).body.status, 'ok');
});
