import assert from 'node:assert/strict';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { parseProxyHeader, V2_SIGNATURE } from '../../gateway/src/node/proxy-protocol.js';
import { startEdgeNode, type EdgeNode } from './edge-node.js';
import { makeCertificate, type TestCertificate } from './test-certs.js';

/** A PROXY v2 header: command PROXY (or LOCAL), TCP over IPv4 or IPv6. */
function v2Header(source: string, sourcePort: number, options: { local?: boolean; family?: 'IPv4' | 'IPv6'; tlv?: Buffer } = {}): Buffer {
  const family = options.family ?? 'IPv4';
  const tlv = options.tlv ?? Buffer.alloc(0);
  const addresses = family === 'IPv4' ? Buffer.alloc(12) : Buffer.alloc(36);
  if (family === 'IPv4') {
    Buffer.from(source.split('.').map(Number)).copy(addresses, 0);
    Buffer.from([10, 0, 0, 1]).copy(addresses, 4);
    addresses.writeUInt16BE(sourcePort, 8);
    addresses.writeUInt16BE(443, 10);
  } else {
    expandIPv6(source).copy(addresses, 0);
    expandIPv6('fd00::1').copy(addresses, 16);
    addresses.writeUInt16BE(sourcePort, 32);
    addresses.writeUInt16BE(443, 34);
  }
  const fixed = Buffer.alloc(4);
  fixed[0] = options.local ? 0x20 : 0x21;
  fixed[1] = family === 'IPv4' ? 0x11 : 0x21;
  fixed.writeUInt16BE(addresses.length + tlv.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, addresses, tlv]);
}

function expandIPv6(address: string): Buffer {
  const [left, right] = address.split('::') as [string, string | undefined];
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const groups = [...l, ...Array(8 - l.length - r.length).fill('0'), ...r];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** Write `preamble` then an HTTP/1.1 GET on a raw socket; the answer, or 'closed' when the gateway hung up first. */
function send(port: number, preamble: Buffer | string, path: string): Promise<{ status: number; body: string } | 'closed'> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1');
    collect(socket, resolve);
    socket.write(Buffer.concat([Buffer.from(preamble as string), Buffer.from(`GET ${path} HTTP/1.1\r\nHost: pp.test\r\nConnection: close\r\n\r\n`)]));
  });
}

function collect(socket: Socket, resolve: (answer: { status: number; body: string } | 'closed') => void): void {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  socket.on('close', () => {
    const text = Buffer.concat(chunks).toString();
    if (text === '') return resolve('closed');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
  });
}

describe('PROXY protocol parsing (HAProxy spec v1 and v2), strict', () => {
  test('v1 TCP4, TCP6 and UNKNOWN lines parse to the source address; an incomplete line asks for more', () => {
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 5555 80\r\nGET')), { kind: 'ok', length: 41, source: { address: '203.0.113.7', port: 5555, family: 'IPv4' } });
    const v6 = parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 fd00::1 5555 443\r\n'));
    assert.equal(v6.kind === 'ok' && v6.source?.address, '2001:db8::7');
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'ok', length: 15 });
    assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP4 203.0')), { kind: 'more' });
    assert.deepEqual(parseProxyHeader(Buffer.from('PRO')), { kind: 'more' });
  });

  test('v1 lines that bend the grammar are refused, naming why', () => {
    const bad: Array<[string, RegExp]> = [
      ['PROXY TCP4 203.0.113.7 10.0.0.1 5555\r\n', /not "PROXY TCP4\|TCP6/],
      ['PROXY TCP4 2001:db8::1 10.0.0.1 5555 80\r\n', /not TCP4 addresses/],
      ['PROXY TCP4 203.0.113.7 10.0.0.1 65536 80\r\n', /ports/],
      ['PROXY TCP4 203.0.113.7 10.0.0.1 05 80\r\n', /ports/],
      ['PROXY UDP4 203.0.113.7 10.0.0.1 5 80\r\n', /is not TCP4, TCP6 or UNKNOWN/],
      [`PROXY TCP4 ${'1'.repeat(120)}`, /longer than 107 bytes/],
      ['GET / HTTP/1.1\r\n', /did not start with a PROXY protocol header/],
    ];
    for (const [line, why] of bad) {
      const result = parseProxyHeader(Buffer.from(line));
      assert.equal(result.kind, 'bad', line);
      assert.match((result as { reason: string }).reason, why, line);
    }
  });

  test('v2 PROXY over TCP4 and TCP6 (TLVs skipped), LOCAL without an address; a wrong version or family is refused', () => {
    const tlv = Buffer.from([0xea, 0x00, 0x03, 0x61, 0x62, 0x63]);
    const four = parseProxyHeader(Buffer.concat([v2Header('198.51.100.9', 4000, { tlv }), Buffer.from('GET')]));
    assert.deepEqual(four, { kind: 'ok', length: 16 + 12 + 6, source: { address: '198.51.100.9', port: 4000, family: 'IPv4' } });
    const six = parseProxyHeader(v2Header('2001:db8::9', 4001, { family: 'IPv6' }));
    assert.equal(six.kind === 'ok' && six.source?.address, '2001:db8::9');
    assert.deepEqual(parseProxyHeader(v2Header('198.51.100.9', 1, { local: true })), { kind: 'ok', length: 28 });
    assert.deepEqual(parseProxyHeader(v2Header('198.51.100.9', 1).subarray(0, 20)), { kind: 'more' });
    const version1 = v2Header('198.51.100.9', 1);
    version1[12] = 0x11;
    assert.match((parseProxyHeader(version1) as { reason: string }).reason, /version other than 2/);
    const udp = v2Header('198.51.100.9', 1);
    udp[13] = 0x12;
    assert.match((parseProxyHeader(udp) as { reason: string }).reason, /family 0x12/);
  });
});

describe('PROXY protocol on the public and TLS listeners (PROXY_PROTOCOL=1)', () => {
  let upstream: EchoUpstream;
  let trusting: EdgeNode;
  let untrusting: EdgeNode;
  let cert: TestCertificate;
  const config = () => ({
    upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
    routes: [
      { name: 'partners', paths: ['/partners/*'], upstream: 'echo', ipRestriction: { allow: ['203.0.113.0/24', '2001:db8::/32'] } },
      { name: 'open', paths: ['/open/*'], upstream: 'echo' },
    ],
  });

  before(async () => {
    cert = makeCertificate({ cn: 'pp.example.test' });
    upstream = await startEchoUpstream('pp-echo');
    // The balancer is 127.0.0.1: the tests connect from there.
    trusting = await startEdgeNode(config(), { proxyProtocol: true, tlsPort: 0, defaultCertificate: { cert: cert.cert, key: cert.key } }, { trustedProxies: ['127.0.0.1'] });
    untrusting = await startEdgeNode(config(), { proxyProtocol: true, h2c: true }, { trustedProxies: ['10.9.9.9'] });
  });
  after(async () => {
    await trusting?.close();
    await untrusting?.close();
    await upstream?.close();
    cert?.cleanup();
  });

  test('a v1 header from a trusted address sets the client address ip-restriction and x-forwarded-for see', async () => {
    const admitted = await send(trusting.port, 'PROXY TCP4 203.0.113.7 10.0.0.1 5555 80\r\n', '/partners/a');
    assert.notEqual(admitted, 'closed');
    if (admitted === 'closed') return;
    assert.equal(admitted.status, 200);
    assert.equal(JSON.parse(admitted.body).headers['x-forwarded-for'], '203.0.113.7');
    const outside = await send(trusting.port, 'PROXY TCP4 198.51.100.1 10.0.0.1 5555 80\r\n', '/partners/a');
    assert.equal(outside !== 'closed' && outside.status, 403);
  });

  test('a v2 header (TCP6) from a trusted address does the same', async () => {
    const answer = await send(trusting.port, v2Header('2001:db8::42', 6000, { family: 'IPv6' }), '/partners/v2');
    assert.equal(answer !== 'closed' && answer.status, 200);
    if (answer !== 'closed') assert.equal(JSON.parse(answer.body).headers['x-forwarded-for'], '2001:db8::42');
  });

  test('a v2 header before the TLS handshake on the TLS listener sets the client address too', async () => {
    const answer = await new Promise<{ status: number; body: string } | 'closed'>((resolve) => {
      const raw = connectTcp(trusting.tlsPort!, '127.0.0.1', () => {
        raw.write(v2Header('203.0.113.99', 7000));
        const tls = connectTls({ socket: raw, servername: 'pp.example.test', ca: cert.cert }, () => {
          tls.write('GET /partners/tls HTTP/1.1\r\nHost: pp.example.test\r\nConnection: close\r\n\r\n');
        });
        collect(tls as unknown as Socket, resolve);
      });
      raw.on('error', () => resolve('closed'));
    });
    assert.notEqual(answer, 'closed');
    if (answer === 'closed') return;
    assert.equal(answer.status, 200);
    const seen = JSON.parse(answer.body);
    assert.equal(seen.headers['x-forwarded-for'], '203.0.113.99');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
  });

  test('LOCAL (v2) and UNKNOWN (v1) keep the balancer as the peer: its own health checks pass through', async () => {
    const local = await send(trusting.port, v2Header('203.0.113.1', 1, { local: true }), '/open/health');
    assert.equal(local !== 'closed' && JSON.parse(local.body).headers['x-forwarded-for'], '127.0.0.1');
    const unknown = await send(trusting.port, 'PROXY UNKNOWN\r\n', '/partners/x');
    assert.equal(unknown !== 'closed' && unknown.status, 403);
  });

  test('a trusted peer must send the header: a bare request or a malformed header is refused (connection closed)', async () => {
    assert.equal(await send(trusting.port, '', '/open/x'), 'closed');
    assert.equal(await send(trusting.port, 'PROXY TCP4 203.0.113.7 10.0.0.1 5555\r\n', '/open/x'), 'closed');
  });

  test('from an untrusted address a v1 or v2 header is refused; its plain requests (HTTP/1.1 and h2c) are served as its own', async () => {
    assert.equal(await send(untrusting.port, 'PROXY TCP4 203.0.113.7 10.0.0.1 5555 80\r\n', '/partners/a'), 'closed');
    assert.equal(await send(untrusting.port, v2Header('203.0.113.7', 5555), '/partners/a'), 'closed');
    const plain = await send(untrusting.port, '', '/open/x');
    assert.equal(plain !== 'closed' && JSON.parse(plain.body).headers['x-forwarded-for'], '127.0.0.1');
    // 'P' starts both PROXY and POST/PUT/PATCH/PRI: those still pass.
    const post = await new Promise<{ status: number; body: string } | 'closed'>((resolve) => {
      const socket = connectTcp(untrusting.port, '127.0.0.1');
      collect(socket, resolve);
      socket.write('POST /open/p HTTP/1.1\r\nHost: pp.test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi');
    });
    assert.equal(post !== 'closed' && JSON.parse(post.body).body, 'hi');
  });
});
