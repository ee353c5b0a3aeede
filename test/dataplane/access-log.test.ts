import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { request } from 'undici';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { LogLines } from '../helpers/log-lines.js';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { caughtUp } from '../plugins/fixtures.js';
import { rawRequest } from '../edge/raw-http.js';

const sink = new LogLines();
const lines = sink.lines;

let up: EchoUpstream;
let gw: TestGateway;
before(async () => {
  up = await startEchoUpstream('echo');
  gw = await startGateway(
    {
      upstreams: [{ name: 'echo', targets: [{ url: up.url }] }],
      routes: [
        { name: 'open', methods: ['GET'], paths: ['/open/*'], upstream: 'echo' },
        { name: 'keyed', methods: ['GET'], paths: ['/keyed'], upstream: 'echo', auth: 'api-key' },
        { name: 'small', methods: ['POST'], paths: ['/small'], upstream: 'echo', bodyLimit: 16 },
        // Two routes on one path that match on a header: a selector picks between them.
        { name: 'pool-a', methods: ['GET'], paths: ['/picked'], upstream: 'echo', match: { headers: { 'x-pool': 'a' } } },
        { name: 'pool-b', methods: ['GET'], paths: ['/picked'], upstream: 'echo', match: { headers: { 'x-pool': 'b' } } },
      ],
      consumers: [{ name: 'acme' }],
    },
    { accessLog: true, logger: pino({ level: 'info' }, sink) },
  );
});
after(async () => {
  await gw.close();
  await up.close();
});

const access = () => lines.filter((l) => l.msg === 'access');

test('ACCESS_LOG writes one line per answered request, proxied or refused, without query strings or keys', async () => {
  await (await request(`${gw.url}/open/x?token=secret-in-query`, { headers: { 'x-request-id': 'log-me' } })).body.dump();
  await (await request(`${gw.url}/keyed`, { headers: { 'x-api-key': 'sb_live_notarealkeyatall' } })).body.dump();
  await (await request(`${gw.url}/nowhere`)).body.dump();
  await waitFor(() => access().length >= 3, 2000, 'three access lines');
  const [proxied, refused, missing] = access();
  assert.equal(proxied!.requestId, 'log-me');
  assert.equal(proxied!.path, '/open/x');
  assert.equal(proxied!.status, 200);
  assert.equal(proxied!.route, 'open');
  assert.equal(proxied!.target, up.url);
  assert.equal(proxied!.attempts, 1);
  assert.equal(typeof proxied!.durationMs, 'number');
  assert.equal(refused!.status, 401);
  assert.equal(refused!.path, '/keyed');
  assert.equal(missing!.status, 404);
  const text = JSON.stringify(lines);
  assert.ok(!text.includes('secret-in-query'), 'query strings stay out of the log');
  assert.ok(!text.includes('sb_live_notarealkeyatall'), 'keys stay out of the log');
});

test('a request proxied through a route with stages is logged once, by the proxy, with its route and target', async () => {
  const { key } = await issueKey(gw.store, 'acme', { actor: 'test' });
  await caughtUp(gw);
  const before = access().length;
  await (await request(`${gw.url}/keyed`, { headers: { 'x-api-key': key, 'x-request-id': 'staged-once' } })).body.dump();
  await waitFor(() => access().some((l) => l.requestId === 'staged-once'), 2000, 'the access line');
  // Give a second line time to appear, if one were written.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const mine = access().slice(before).filter((l) => l.requestId === 'staged-once');
  assert.equal(mine.length, 1, JSON.stringify(mine));
  assert.equal(mine[0]!.route, 'keyed');
  assert.equal(mine[0]!.target, up.url);
  assert.equal(mine[0]!.consumer, 'acme');
});

test('what a route without stages refuses itself is logged too: a fast lane\'s 413, a selector\'s 404', async () => {
  const before = access().length;
  const big = await request(`${gw.url}/small?q=1`, { method: 'POST', body: 'x'.repeat(64), headers: { 'x-request-id': 'too-big' } });
  assert.equal(big.statusCode, 413);
  await big.body.dump();
  const unmatched = await request(`${gw.url}/picked`, { headers: { 'x-pool': 'c', 'x-request-id': 'no-pool' } });
  assert.equal(unmatched.statusCode, 404);
  await unmatched.body.dump();
  await waitFor(() => access().length >= before + 2, 2000, 'two more access lines');
  const [tooBig, noPool] = access().slice(before);
  assert.deepEqual(
    { requestId: tooBig!.requestId, status: tooBig!.status, route: tooBig!.route, path: tooBig!.path, method: tooBig!.method, attempts: tooBig!.attempts },
    { requestId: 'too-big', status: 413, route: 'small', path: '/small', method: 'POST', attempts: 0 },
  );
  assert.equal(tooBig!.target, undefined, 'nothing was sent upstream');
  assert.deepEqual({ requestId: noPool!.requestId, status: noPool!.status, route: noPool!.route, path: noPool!.path }, { requestId: 'no-pool', status: 404, route: undefined, path: '/picked' });
});

test('what the edge refuses before any route matches is logged too: a duplicate Host, and a target that is not origin-form as "-"', async () => {
  const before = access().length;
  const twoHosts = await rawRequest(gw.url, 'GET /open/x?token=secret-in-query HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n');
  assert.equal(twoHosts.status, 400);
  const asterisk = await rawRequest(gw.url, 'GET * HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
  assert.equal(asterisk.status, 400);
  await waitFor(() => access().length >= before + 2, 2000, 'two more access lines');
  const [dup, star] = access().slice(before);
  assert.deepEqual({ requestId: dup!.requestId, status: dup!.status, path: dup!.path, route: dup!.route }, { requestId: twoHosts.headers['x-request-id'], status: 400, path: '/open/x', route: undefined });
  assert.deepEqual({ status: star!.status, path: star!.path, method: star!.method }, { status: 400, path: '-', method: 'GET' });
  assert.ok(!JSON.stringify(lines).includes('secret-in-query'), 'query strings stay out of the log');
});

test('what node:http refuses before a request exists is answered as node:http answers it, and counted and logged', async () => {
  const before = access().length;
  const garbage = await rawRequest(gw.url, 'NOT HTTP AT ALL\r\n\r\n');
  assert.equal(garbage.raw, 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n', 'node:http\'s own answer, byte for byte');
  const huge = await rawRequest(gw.url, `GET /open/x HTTP/1.1\r\nHost: gw\r\nx-big: ${'a'.repeat(100_000)}\r\n\r\n`);
  assert.equal(huge.status, 431);
  await waitFor(() => access().length >= before + 2, 2000, 'two more access lines');
  const [bad, big] = access().slice(before);
  assert.deepEqual({ status: bad!.status, method: bad!.method, path: bad!.path, route: bad!.route, clientIp: bad!.clientIp }, { status: 400, method: '-', path: '-', route: undefined, clientIp: '127.0.0.1' });
  assert.equal(typeof bad!.requestId, 'string');
  assert.equal(big!.status, 431);
  assert.match(gw.metrics.render(), /switchboard_requests_total\{route="none",status="431"\} [1-9]/);
});
