import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from 'undici';
import { createLeastResponseTimePicker } from '../../gateway/src/balancer/least-response-time.js';
import { FAILURE_PENALTY_CAP_MS, recordLatency } from '../../gateway/src/balancer/peak-ewma.js';
import { startHarness } from '../admin/admin-harness.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway } from '../helpers/gateway.js';
import { ctx, members, upstream } from './fixtures.js';

test('ten thousand failures leave a finite, capped latency estimate that decays until the worker is picked again', () => {
  const pool = members([1, 1]);
  const [fast, flaky] = [pool[0]!, pool[1]!];
  const clock = { now: 1_000 };
  const picker = createLeastResponseTimePicker({ members: pool, upstream: upstream('least-response-time', pool) }, { now: () => clock.now });
  recordLatency(fast.target, 20, true, clock.now);
  for (let i = 0; i < 10_000; i++) {
    // Half of them in the same millisecond: the case that turned Infinity into NaN.
    if (i % 2 === 0) clock.now += 1;
    recordLatency(flaky.target, 1, false, clock.now);
  }
  assert.ok(Number.isFinite(flaky.target.ewmaMs), `estimate ${flaky.target.ewmaMs}`);
  assert.ok(flaky.target.ewmaMs <= FAILURE_PENALTY_CAP_MS, `estimate ${flaky.target.ewmaMs} above the cap`);
  assert.equal(picker.pick(pool, ctx()), fast, 'right after the failures the flaky worker is avoided');

  // The worker recovers. The fast one carries a long stream, so a second request costs it twice.
  fast.target.inFlight = 1;
  let pickedAgainAfterMs: number | undefined;
  const recoveredAt = clock.now;
  for (let step = 0; step < 1_200 && pickedAgainAfterMs === undefined; step++) {
    clock.now += 100;
    const chosen = picker.pick(pool, ctx());
    recordLatency(chosen.target, 20, true, clock.now);
    if (chosen === flaky) pickedAgainAfterMs = clock.now - recoveredAt;
  }
  assert.ok(pickedAgainAfterMs !== undefined, 'the recovered worker is never picked again within 120 s');
  assert.ok(pickedAgainAfterMs <= 90_000, `picked again only after ${pickedAgainAfterMs} ms`);
});

test('a failure still costs more than the estimate it replaces, so a worker failing fast never looks fastest', () => {
  const [m] = members([1]);
  recordLatency(m!.target, 100, true, 1_000);
  recordLatency(m!.target, 1, false, 1_001);
  assert.equal(m!.target.ewmaMs, 200);
  recordLatency(m!.target, Number.NaN, true, 1_002);
  assert.ok(Number.isFinite(m!.target.ewmaMs), 'a sample that is not a number is ignored');
});

test('after 10 000 failed attempts on a shared worker the health API answers 200 and /metrics stays finite', async (t) => {
  const good = await startEchoUpstream('good');
  const sick = await startEchoUpstream('sick');
  sick.handler = (_req, res) => {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('overloaded');
    return true;
  };
  // Two pools list the sick worker: its estimate is shared by both.
  const gw = await startGateway({
    upstreams: [
      { name: 'fastest', algorithm: 'least-response-time', targets: [{ url: good.url }, { url: sick.url }] },
      { name: 'spread', algorithm: 'round-robin', targets: [{ url: sick.url }] },
    ],
    routes: [
      { name: 'lrt', methods: ['GET'], paths: ['/lrt/*'], upstream: 'fastest' },
      { name: 'rr', methods: ['GET'], paths: ['/rr/*'], upstream: 'spread', retries: 0 },
    ],
    consumers: [],
  });
  const admin = await startHarness({ store: gw.store, node: gw.node });
  t.after(async () => {
    await admin.close();
    await gw.close();
    await good.close();
    await sick.close();
  });
  // Real failures through the round-robin pool first…
  for (let i = 0; i < 20; i++) assert.equal((await request(`${gw.url}/rr/x`).then(async (r) => (await r.body.dump(), r))).statusCode, 503);
  // …then the other 9 980 through the pool's own bookkeeping, as the proxy reports each attempt.
  const spread = gw.node.upstreams.get('spread')!;
  const member = spread.members[0]!;
  for (let i = 0; i < 9_980; i++) {
    spread.begin(member);
    spread.end(member, { status: 503, latencyMs: 0.2 });
  }
  assert.ok(Number.isFinite(member.target.ewmaMs), `estimate ${member.target.ewmaMs}`);

  const token = await admin.login();
  for (const name of ['fastest', 'spread']) {
    const health = await admin.api('GET', `/upstreams/${name}/health`, { token });
    assert.equal(health.status, 200, health.text);
    for (const entry of health.body) assert.ok(Number.isFinite(entry.latencyMs), `${name}: ${health.text}`);
  }
  const text = gw.metrics.render();
  assert.doesNotMatch(text, /\b(NaN|[+-]?Inf)\s*$/m, 'no sample line is NaN or infinite');

  // The least-response-time pool still serves through the good worker meanwhile.
  const res = await request(`${gw.url}/lrt/x`);
  await res.body.dump();
  assert.equal(res.statusCode, 200);
});
