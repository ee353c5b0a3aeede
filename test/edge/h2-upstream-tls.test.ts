import assert from 'node:assert/strict';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Agent, request } from 'undici';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { makeCertificate, type TestCertificate } from './test-certs.js';

/**
 * `protocol: "h2"` end to end: HTTP/1.1 clients in front, HTTP/2 over TLS (ALPN h2) to an https
 * target whose certificate comes from a private CA — what a GPU worker behind an h2 ingress
 * looks like to the gateway.
 */
describe('upstream protocol h2 over TLS: HTTP/2 sessions to https targets, verified against the upstream CA', () => {
  let upstream: Http2SecureServer;
  let gw: TestGateway;
  const sessions = new Set<ServerHttp2Session>();
  const c: Record<string, TestCertificate> = {};
  const client = new Agent({ connections: 32 });

  before(async () => {
    c.ca = makeCertificate({ cn: 'Worker CA' });
    c.server = makeCertificate({ cn: 'worker.internal', ips: ['127.0.0.1'], ca: c.ca });
    // allowHTTP1 false: a request that is not HTTP/2 cannot be answered at all.
    upstream = createSecureServer({ cert: c.server.cert, key: c.server.key, allowHTTP1: false }, (req, res) => {
      let body = 0;
      req.on('data', (chunk: Buffer) => (body += chunk.length));
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ httpVersion: req.httpVersion, alpn: (req.socket as import("node:tls").TLSSocket).alpnProtocol, path: req.url, method: req.method, bodyBytes: body, host: req.headers[':authority'] }));
      });
    });
    upstream.on('session', (session) => sessions.add(session));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gw = await startGateway({
      upstreams: [
        { name: 'h2-workers', protocol: 'h2', targets: [{ url }], tls: { ca: c.ca.cert } },
        // The same target without the private CA: its certificate cannot be verified.
        { name: 'h2-untrusted', protocol: 'h2', targets: [{ url }] },
      ],
      routes: [
        { name: 'chat', paths: ['/v1/*'], methods: ['GET', 'POST'], upstream: 'h2-workers', retries: 0 },
        { name: 'untrusted', paths: ['/untrusted/*'], upstream: 'h2-untrusted', retries: 0 },
      ],
      consumers: [],
    });
  });
  after(async () => {
    await gw?.close();
    await client.close();
    for (const s of sessions) s.destroy();
    await new Promise<void>((resolve) => upstream?.close(() => resolve()));
    for (const cert of Object.values(c)) cert.cleanup();
  });

  test('an HTTP/1.1 request reaches the target as HTTP/2 negotiated by ALPN, path and method intact', async () => {
    const res = await request(`${gw.url}/v1/models?x=1`, { dispatcher: client });
    assert.equal(res.statusCode, 200);
    const seen = (await res.body.json()) as { httpVersion: string; alpn: string; path: string; method: string };
    assert.deepEqual({ httpVersion: seen.httpVersion, alpn: seen.alpn, path: seen.path, method: seen.method }, { httpVersion: '2.0', alpn: 'h2', path: '/v1/models?x=1', method: 'GET' });
  });

  test('a 1 MiB request body is streamed through whole, and concurrent requests share one session', async () => {
    const before = sessions.size;
    const body = Buffer.alloc(1024 * 1024, 7);
    const answers = await Promise.all(
      Array.from({ length: 16 }, async () => {
        const res = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', dispatcher: client, headers: { 'content-type': 'application/octet-stream' }, body });
        assert.equal(res.statusCode, 200);
        return (await res.body.json()) as { bodyBytes: number };
      }),
    );
    assert.deepEqual(new Set(answers.map((a) => a.bodyBytes)), new Set([body.length]));
    assert.equal(sessions.size, before, `16 requests over ${sessions.size - before} new sessions (one session multiplexes them)`);
    assert.ok(sessions.size >= 1);
  });

  test('a target whose certificate is not from a trusted CA is refused: 502, nothing reaches it', async () => {
    const before = sessions.size;
    const res = await request(`${gw.url}/untrusted/x`, { dispatcher: client });
    assert.equal(res.statusCode, 502);
    await res.body.dump();
    assert.equal(sessions.size, before, 'no HTTP/2 session was made with an unverified target');
  });
});
