import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { startClientLoop } from '../helpers/client-loop.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';

const run = promisify(execFile);
const root = new URL('../../../', import.meta.url).pathname;

let a: EchoUpstream;
let b: EchoUpstream;
let gw: TestGateway;

const base = (targets: string[]) => ({
  upstreams: [{ name: 'pool', targets: targets.map((url) => ({ url })) }],
  routes: [{ name: 'old', methods: ['GET'], paths: ['/old/*'], upstream: 'pool' }],
  consumers: [],
});

before(async () => {
  a = await startEchoUpstream('a');
  b = await startEchoUpstream('b');
  gw = await startGateway(base([a.url]), { pollMs: 1000 });
});
after(async () => {
  await gw.close();
  await a.close();
  await b.close();
});

test('switchboard import while a client loop is sending: the new route serves within 2 s and the loop sees zero errors', async () => {
  const agent = new Agent({ connections: 8 });
  const traffic = startClientLoop(`${gw.url}/old/ping`, agent, 4);
  await waitFor(() => traffic.sent > 50, 5000, 'the loop to warm up');

  const file = join(dirname(gw.storePath), 'next.json');
  const next = base([a.url, b.url]);
  next.routes.push({ name: 'new', methods: ['GET'], paths: ['/new/*'], upstream: 'pool' });
  await writeFile(file, JSON.stringify(next));
  const { stdout } = await run(process.execPath, [join(root, 'bin/switchboard.js'), 'import', file], {
    env: { ...process.env, STORE_URL: `file:${gw.storePath}` },
  });
  assert.match(stdout, /revision 2/);
  // From the commit (the CLI's exit) to the running gateway serving it: the CLI's own start-up
  // and dry compile are not the node's reload latency.
  const importedAt = Date.now();
  await waitFor(
    async () => {
      const res = await request(`${gw.url}/new/x`, { dispatcher: agent });
      await res.body.dump();
      return res.statusCode === 200;
    },
    2000,
    'the new route to serve',
  );
  const servedAfterMs = Date.now() - importedAt;
  const sentAtSwap = traffic.sent;
  await waitFor(() => traffic.sent > sentAtSwap + 50, 5000, 'traffic after the swap');
  await traffic.stop();
  await agent.close();
  assert.deepEqual(traffic.failures, [], `${traffic.failures.length} of ${traffic.sent} requests failed`);
  assert.ok(servedAfterMs < 2000, `new route served after ${servedAfterMs} ms`);
  assert.ok(b.received.length > 0, 'the new target takes traffic');
});

test('a revision that fails to compile leaves the previous one serving', async () => {
  const revision = gw.node.revision;
  const broken = base([a.url]);
  // Valid as configuration, but not a schema ajv can compile: only compiling the generation finds out.
  (broken.routes[0] as Record<string, unknown>).schema = { querystring: { type: 'object', properties: { n: { type: 'no-such-type' } } } };
  const state = await (await import('../../gateway/src/config/replace-config.js')).replaceConfig(gw.store, broken, 'test');
  await waitFor(() => gw.node.lastError?.revision === state.revision, 5000, 'the compile failure to be noticed');
  assert.equal(gw.node.revision, revision);
  const res = await request(`${gw.url}/new/still-here`);
  assert.equal(res.statusCode, 200);
  await res.body.dump();
});

test('switchboard validate names every bad field and exits non-zero; import of a bad file changes nothing', async () => {
  const file = join(dirname(gw.storePath), 'bad.json');
  await writeFile(file, JSON.stringify({ upstreams: [{ name: 'u', algorithm: 'fastest', targets: [] }], routes: [{ name: 'r', paths: ['/x'], upstream: 'missing' }], consumers: [] }));
  const validate = await run(process.execPath, [join(root, 'bin/switchboard.js'), 'validate', file]).catch((e) => e as { code: number; stderr: string });
  assert.equal((validate as { code: number }).code, 1);
  const stderr = (validate as { stderr: string }).stderr;
  assert.match(stderr, /\/upstreams\/0\/algorithm: must be one of/);
  assert.match(stderr, /\/upstreams\/0\/targets: must NOT have fewer than 1 items/);
  assert.match(stderr, /\/routes\/0\/upstream: names unknown upstream "missing"/);
  const before = (await gw.store.read()).revision;
  const imported = await run(process.execPath, [join(root, 'bin/switchboard.js'), 'import', file], {
    env: { ...process.env, STORE_URL: `file:${gw.storePath}` },
  }).catch((e) => e as { code: number });
  assert.equal((imported as { code: number }).code, 1);
  assert.equal((await gw.store.read()).revision, before);
});

test('a node keeps serving its last good configuration while the store is unreadable, and catches up after', async () => {
  const { readFile, writeFile: write } = await import('node:fs/promises');
  const good = await readFile(gw.storePath, 'utf8');
  const revision = gw.node.revision;
  await write(gw.storePath, '{ this is not json');
  // Longer than a watch tick and a poll: the node has tried to read the broken file.
  await new Promise((r) => setTimeout(r, 1500));
  const during = await request(`${gw.url}/old/x`);
  assert.equal(during.statusCode, 200, 'still serving');
  await during.body.dump();
  assert.equal(gw.node.revision, revision);
  await write(gw.storePath, good);
  const next = base([a.url]);
  next.routes.push({ name: 'after-outage', methods: ['GET'], paths: ['/after/*'], upstream: 'pool' });
  await gw.apply(next);
  const after = await request(`${gw.url}/after/x`);
  assert.equal(after.statusCode, 200);
  await after.body.dump();
});
