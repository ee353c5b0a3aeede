import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway } from '../helpers/gateway.js';

test('the retry budget is per upstream and counts retries in flight, not retries per second', async (t) => {
  let holdMs = 300;
  const sick = await Promise.all(['a', 'b'].map((n) => startEchoUpstream(n)));
  for (const s of sick)
    s.handler = (_req, res) => {
      setTimeout(() => {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('busy');
      }, holdMs);
      return true;
    };
  const gw = await startGateway({
    // 0 %: only the floor of 3 concurrent retries remains, so the count is exact.
    upstreams: [{ name: 'pool', algorithm: 'round-robin', retryBudgetPercent: 0, targets: sick.map((s) => ({ url: s.url })) }],
    routes: [
      { name: 'one', methods: ['GET'], paths: ['/one/*'], upstream: 'pool', retries: 1 },
      { name: 'two', methods: ['GET'], paths: ['/two/*'], upstream: 'pool', retries: 1 },
    ],
    consumers: [],
  });
  t.after(async () => {
    await gw.close();
    await Promise.all(sick.map((s) => s.close()));
  });
  const received = () => sick.reduce((n, s) => n + s.received.length, 0);

  // A burst through both routes: every first attempt fails at about the same moment.
  const before = received();
  const burst = await Promise.all(
    Array.from({ length: 20 }, (_, i) => request(`${gw.url}/${i % 2 ? 'one' : 'two'}/${i}`).then(async (r) => (await r.body.dump(), r.statusCode))),
  );
  assert.ok(burst.every((s) => s === 503));
  const retries = received() - before - 20;
  assert.ok(retries >= 1 && retries <= 3, `${retries} retries in flight at once: two routes on one upstream share its budget of 3`);

  // One at a time, every request gets its retry however many per second that makes.
  holdMs = 0;
  const calm = received();
  for (let i = 0; i < 12; i++) await (await request(`${gw.url}/one/calm${i}`)).body.dump();
  assert.equal(received() - calm, 24, 'each of the 12 sequential requests was retried once');
});

test('the README describes the retry budget the code keeps', async () => {
  const readme = await readFile(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  // The bullet of "Timeouts, retries and errors" that describes the budget.
  const paragraph = readme.split(/\n(?=- |\n)/).find((p) => /^- The retry budget/i.test(p)) ?? '';
  assert.ok(paragraph, 'the README has no "- The retry budget …" bullet');
  assert.match(paragraph, /per upstream/i, paragraph);
  assert.match(paragraph, /in flight/i, paragraph);
  assert.doesNotMatch(paragraph, /per route|per second/i, paragraph);
});
