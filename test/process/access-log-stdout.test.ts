import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { openStore } from '../../gateway/src/store/open-store.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGatewayProcess } from '../helpers/gateway-process.js';

// `npm start` writes access lines to stdout in buffered writes of up to 4 KiB (one write per
// line cost ≈ 10 µs of a request's CPU). Buffering must not lose or tear a line: a quiet node's
// lines still come out within the flush interval, and a stopped node's last lines on its way out.

function accessLines(output: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const parsed = JSON.parse(line) as Record<string, unknown>; // a torn line throws here
    if (parsed.kind === 'access') out.push(parsed);
  }
  return out;
}

test('npm start with ACCESS_LOG=1: every access line reaches stdout whole, within a second when quiet, and all of them when stopped', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-access-stdout-'));
  const upstream = await startEchoUpstream('echo');
  const storeUrl = `file:${join(dir, 'store.json')}`;
  const store = await openStore(storeUrl);
  await replaceConfig(store, { upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }], routes: [{ name: 'open', methods: ['GET'], paths: ['/open/*'], upstream: 'echo' }] }, 'test');
  await store.close();
  const gw = await startGatewayProcess(storeUrl, { ACCESS_LOG: '1', LOG_LEVEL: 'info' });
  const agent = new Agent({ connections: 8 });
  t.after(async () => {
    await gw.stop();
    await agent.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });
  const get = async (path: string) => {
    const res = await request(`${gw.publicUrl}${path}`, { dispatcher: agent });
    await res.body.dump();
    assert.equal(res.statusCode, 200);
  };

  // A few lines, far under the buffer: the periodic flush writes them.
  for (let i = 0; i < 5; i++) await get(`/open/quiet-${i}`);
  const deadline = Date.now() + 3_000;
  while (accessLines(gw.output()).length < 5 && Date.now() < deadline) await sleep(50);
  assert.equal(accessLines(gw.output()).length, 5, 'five quiet requests are logged within the flush interval');

  // Many lines: several full buffers.
  await Promise.all(Array.from({ length: 300 }, (_, i) => get(`/open/busy-${i}`)));
  // And the last few right before SIGTERM: the drain writes what is still buffered.
  await Promise.all(Array.from({ length: 3 }, (_, i) => get(`/open/last-${i}`)));
  await gw.stop();
  assert.equal(gw.child.exitCode, 0);

  const lines = accessLines(gw.output());
  assert.equal(lines.length, 308, 'one line per request, none lost');
  const paths = new Set(lines.map((l) => l.path));
  for (const path of ['/open/quiet-0', '/open/busy-299', '/open/last-0', '/open/last-2']) assert.ok(paths.has(path), `${path} is logged`);
  assert.ok(lines.every((l) => l.status === 200 && l.route === 'open' && typeof l.requestId === 'string'));
});
