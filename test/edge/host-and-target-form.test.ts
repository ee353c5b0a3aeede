import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EchoUpstream } from '../helpers/echo-upstream.js';
import type { TestGateway } from '../helpers/gateway.js';
import { startKeyedAndOpen, type KeyedAndOpen } from './keyed-and-open.js';
import { rawRequest } from './raw-http.js';

/**
 * Issue 9, defect 3: what the request line and Host say about the target (RFC 9112 §3.2). The
 * requests are written on raw sockets because no HTTP client sends them.
 */
let keyed: EchoUpstream;
let open: EchoUpstream;
let gw: TestGateway;
let key: string;
let stage: KeyedAndOpen;

before(async () => {
  stage = await startKeyedAndOpen([
    { name: 'raw', methods: ['GET'], paths: ['/raw/*'], upstream: 'open', auth: 'none' },
    { name: 'partner-host', methods: ['GET'], paths: ['/only/*'], hosts: ['partner.example'], upstream: 'open' },
  ]);
  ({ keyed, open, gw, key } = stage);
});
after(() => stage.close());

const last = (u: EchoUpstream) => u.received[u.received.length - 1];

describe('absolute-form request targets (RFC 9112 §3.2.2)', () => {
  test('GET http://evil.example/raw/x goes upstream in origin-form, and its authority is the Host', async () => {
    const count = open.received.length;
    const answer = await rawRequest(gw.url, 'GET http://evil.example/raw/x?y=1 HTTP/1.1\r\nHost: gateway.example\r\nConnection: close\r\n\r\n');
    assert.equal(answer.status, 200);
    assert.equal(open.received.length, count + 1);
    assert.equal(last(open)!.url, '/raw/x?y=1');
    assert.equal(last(open)!.headers['x-forwarded-host'], 'evil.example');
  });

  test('the authority of an absolute-form target is what host-bound routes match', async () => {
    const answer = await rawRequest(gw.url, 'GET HTTP://Partner.example:8443/only/a HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n');
    assert.equal(answer.status, 200);
    assert.equal(last(open)!.url, '/only/a');
  });

  test('absolute-form is normalized like any path: no way past the keyed route', async () => {
    const answer = await rawRequest(gw.url, 'GET http://gw/raw/../v1/x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    assert.equal(answer.status, 401);
    const withKey = await rawRequest(gw.url, `GET http://gw/raw/%2e%2e/v1/x HTTP/1.1\r\nHost: gw\r\nx-api-key: ${key}\r\nConnection: close\r\n\r\n`);
    assert.equal(withKey.status, 200);
    assert.equal(last(keyed)!.url, '/v1/x');
  });

  test('an absolute-form target without a path is the root', async () => {
    const answer = await rawRequest(gw.url, 'GET http://gw?x=1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    assert.ok(answer.status !== 400 && answer.status < 500, `answered ${answer.status}`);
  });

  for (const target of ['http://user:pw@evil.example/raw/x', 'ftp://evil.example/raw/x', 'http:///raw/x', 'http://evil example/raw/x', 'http://[::1/raw/x', 'raw/x', '*'])
    test(`request-target ${JSON.stringify(target)} is refused with 400`, async () => {
      const count = open.received.length + keyed.received.length;
      const answer = await rawRequest(gw.url, `GET ${target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`);
      assert.ok(answer.status === 400 || answer.status === 0, `${target}: ${answer.status}`);
      assert.equal(open.received.length + keyed.received.length, count);
    });
});

describe('the Host header (RFC 9112 §3.2)', () => {
  test('two Host headers are refused with 400', async () => {
    const count = open.received.length;
    const answer = await rawRequest(gw.url, 'GET /raw/x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n');
    assert.equal(answer.status, 400);
    assert.equal(JSON.parse(answer.body).type, 'urn:switchboard:problem:bad-host');
    assert.equal(open.received.length, count);
  });

  test('two Host headers spelled differently are still two', async () => {
    const answer = await rawRequest(gw.url, 'GET /raw/x HTTP/1.1\r\nhost: a.example\r\nHOST: a.example\r\nConnection: close\r\n\r\n');
    assert.equal(answer.status, 400);
  });

  for (const host of ['a/v1/x', 'a b', 'user@evil.example', 'evil.example\\x', 'a.example:80:80', 'a.example:port', '[::1', 'a.example:123456', 'a,b'])
    test(`Host ${JSON.stringify(host)} is refused with 400 and never goes upstream as x-forwarded-host`, async () => {
      const count = open.received.length;
      const answer = await rawRequest(gw.url, `GET /raw/x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.equal(answer.status, 400, host);
      assert.equal(open.received.length, count);
    });

  for (const host of ['gateway.example', 'Gateway.Example:8080', '127.0.0.1:9', '[::1]:8080', 'my_host.internal'])
    test(`Host ${JSON.stringify(host)} is accepted and forwarded as x-forwarded-host`, async () => {
      const answer = await rawRequest(gw.url, `GET /raw/x HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      assert.equal(answer.status, 200);
      assert.equal(last(open)!.headers['x-forwarded-host'], host);
    });
});

describe('HTTP versions', () => {
  test('an HTTP/0.9 request line (no version) is not proxied as HTTP/1.1', async () => {
    const count = open.received.length;
    const answer = await rawRequest(gw.url, 'GET /raw/x\r\n\r\n');
    assert.ok(answer.status === 400 || answer.status === 0, `answered ${answer.status}`);
    assert.equal(open.received.length, count);
  });

  test('an explicit HTTP/0.9 or HTTP/2.0 request line over HTTP/1 framing is refused', async () => {
    const count = open.received.length;
    for (const version of ['HTTP/0.9', 'HTTP/2.0', 'HTTP/1.2']) {
      const answer = await rawRequest(gw.url, `GET /raw/x ${version}\r\nHost: gw\r\n\r\n`);
      assert.ok(answer.status === 400 || answer.status === 0, `${version} answered ${answer.status}`);
    }
    assert.equal(open.received.length, count);
  });

  test('HTTP/1.0 without a Host header is served', async () => {
    const answer = await rawRequest(gw.url, 'GET /raw/x HTTP/1.0\r\n\r\n');
    assert.equal(answer.status, 200);
    assert.equal(last(open)!.url, '/raw/x');
    assert.equal(last(open)!.headers['x-forwarded-host'], undefined);
  });

  test('HTTP/1.1 without a Host header is refused with 400 (Node\'s parser, kept on)', async () => {
    const answer = await rawRequest(gw.url, 'GET /raw/x HTTP/1.1\r\n\r\n');
    assert.equal(answer.status, 400);
  });

  test('an Upgrade (WebSocket) request takes the same checks: a traversal meets the key check, a second Host a 400', async () => {
    const upgrade = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
    const count = keyed.received.length + open.received.length;
    const traversal = await rawRequest(gw.url, `GET /raw/../v1/socket HTTP/1.1\r\nHost: gw\r\n${upgrade}\r\n`);
    assert.equal(traversal.status, 401);
    const twoHosts = await rawRequest(gw.url, `GET /raw/socket HTTP/1.1\r\nHost: a\r\nHost: b\r\n${upgrade}\r\n`);
    assert.equal(twoHosts.status, 400);
    assert.equal(keyed.received.length + open.received.length, count);
  });

  test('a refused request is counted under route "none" with its status', async () => {
    const count = () => Number(/switchboard_requests_total\{route="none",status="400"\} (\d+)/.exec(gw.metrics.render())?.[1] ?? 0);
    const before = count();
    await rawRequest(gw.url, 'GET /raw/x HTTP/1.1\r\nHost: a/b\r\nConnection: close\r\n\r\n');
    assert.equal(count(), before + 1);
  });

  test('after refusing a bad request the gateway keeps serving on new connections', async () => {
    await rawRequest(gw.url, 'GET /raw/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
    const answer = await rawRequest(gw.url, 'GET /raw/ok HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    assert.equal(answer.status, 200);
  });
});
