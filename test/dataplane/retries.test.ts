import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

let sick: EchoUpstream;
let well: EchoUpstream;
let gw: TestGateway;

before(async () => {
  sick = await startEchoUpstream('sick');
  sick.handler = (_req, res) => {
    res.writeHead(503, { 'content-type': 'text/plain', 'x-upstream': 'sick' });
    res.end('overloaded');
    return true;
  };
  well = await startEchoUpstream('well');
  gw = await startGateway({
    upstreams: [{ name: 'pool', targets: [{ url: sick.url }, { url: well.url }] }],
    routes: [
      { name: 'default', methods: ['GET', 'POST', 'PUT'], paths: ['/d/*'], upstream: 'pool' },
      { name: 'post-ok', methods: ['POST'], paths: ['/p/*'], upstream: 'pool', retryNonIdempotent: true },
      { name: 'no-retry', methods: ['GET'], paths: ['/n/*'], upstream: 'pool', retries: 0 },
    ],
    consumers: [],
  });
});
after(async () => {
  await gw.close();
  await sick.close();
  await well.close();
});

test('a 503 for an idempotent request is retried on another target', async () => {
  for (let i = 0; i < 6; i++) {
    const res = await request(`${gw.url}/d/x`);
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-upstream'], 'well');
    await res.body.dump();
  }
});

test('a 503 for a POST passes through unless the route allows retrying it', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await request(`${gw.url}/d/x`, { method: 'POST', body: 'x' });
    statuses.push(res.statusCode);
    await res.body.dump();
  }
  assert.ok(statuses.includes(503), `statuses ${statuses}`);
  for (let i = 0; i < 4; i++) {
    const res = await request(`${gw.url}/p/x`, { method: 'POST', body: 'payload' });
    assert.equal(res.statusCode, 200);
    assert.equal(((await res.body.json()) as { body: string }).body, 'payload', 'the body is replayed intact');
  }
});

test('retries: 0 sends each request once', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await request(`${gw.url}/n/x`);
    statuses.push(res.statusCode);
    await res.body.dump();
  }
  assert.deepEqual(statuses.sort(), [200, 200, 503, 503]);
});

test('a client that leaves while its replayable body is still arriving leaves no request counted in flight', async () => {
  const { connect } = await import('node:net');
  const { retryBudgetFor } = await import('../../gateway/src/proxy/retry-budget.js');
  const pool = gw.node.upstreams.get('pool')!;
  const before = retryBudgetFor(pool).inFlight.requests;
  const socket = connect(Number(new URL(gw.url).port), '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  socket.write('PUT /d/x HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(retryBudgetFor(pool).inFlight.requests, before + 1, 'the request is being read');
  socket.destroy();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(retryBudgetFor(pool).inFlight.requests, before);
});
