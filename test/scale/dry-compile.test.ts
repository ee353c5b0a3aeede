import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway } from '../helpers/gateway.js';
import { startHarness } from '../admin/admin-harness.js';

const run = promisify(execFile);
const root = new URL('../../../', import.meta.url).pathname;

let upstream: EchoUpstream;
before(async () => {
  upstream = await startEchoUpstream('pool');
});
after(async () => {
  await upstream.close();
});

const config = (routes: Array<Record<string, unknown>> = []) => ({
  upstreams: [{ name: 'pool', targets: [{ url: upstream.url }] }],
  routes: [{ name: 'old', upstream: 'pool', paths: ['/old/*'], methods: ['GET'] }, ...routes],
});
/** Valid by the schema and every reference check, but find-my-way refuses the regex (catastrophic backtracking). */
const unsafe = { name: 'unsafe', upstream: 'pool', paths: ['/v1/:id((a+)+)'], methods: ['GET'] };

test('PUT /config and route POST/PUT with a configuration that does not compile answer 400 naming the route; the store revision does not move', async (t) => {
  const gw = await startGateway(config());
  const h = await startHarness({ store: gw.store, dir: dirname(gw.storePath), node: gw.node });
  t.after(async () => {
    await h.close();
    await gw.close();
  });
  const token = await h.login();
  const before = await gw.store.revision();

  const put = await h.api('PUT', '/config', { token, body: config([unsafe]) });
  assert.equal(put.status, 400, put.text);
  assert.match(put.headers.get('content-type') ?? '', /application\/problem\+json/);
  assert.match(put.body.detail, /does not compile.*\/routes\/unsafe\/paths\/0.*not safe/);
  assert.deepEqual(put.body.errors.map((e: { path: string }) => e.path), ['/routes/unsafe/paths/0']);

  const post = await h.api('POST', '/routes', { token, body: { ...unsafe, auth: 'api-key' } });
  assert.equal(post.status, 400, post.text);
  assert.equal(post.body.errors[0].path, '/routes/unsafe/paths/0');

  const edit = await h.api('PUT', '/routes/old', { token, body: { name: 'old', upstream: 'pool', paths: ['/old/*', '/x/:a((b+)+)'], methods: ['GET'] } });
  assert.equal(edit.status, 400, edit.text);
  assert.equal(edit.body.errors[0].path, '/routes/old/paths/1');

  assert.equal(await gw.store.revision(), before, 'nothing was committed');
  // A good change still goes through, and the node serves it.
  const good = await h.api('POST', '/routes', { token, body: { name: 'fine', upstream: 'pool', paths: ['/fine/*'], methods: ['GET'] } });
  assert.equal(good.status, 201, good.text);
  assert.equal(await gw.store.revision(), before + 1);
});

test('switchboard import of a configuration that does not compile exits non-zero naming the route; the store is unchanged', async (t) => {
  const gw = await startGateway(config());
  t.after(() => gw.close());
  const before = await gw.store.revision();
  const file = join(dirname(gw.storePath), 'bad.json');
  await writeFile(file, JSON.stringify(config([unsafe])));
  const imported = await run(process.execPath, [join(root, 'bin/switchboard.js'), 'import', file], {
    env: { ...process.env, STORE_URL: `file:${gw.storePath}` },
  }).catch((e) => e as { code: number; stderr: string; stdout: string });
  assert.equal((imported as { code?: number }).code, 1, JSON.stringify(imported));
  assert.match(imported.stderr, /does not compile: \/routes\/unsafe\/paths\/0: .*not safe/);
  assert.equal(await gw.store.revision(), before);
});
