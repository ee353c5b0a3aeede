import assert from 'node:assert/strict';
import { connect, type ClientHttp2Session } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { drainListeners } from '../../gateway/src/node/drain.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startEdgeNode, type EdgeNode } from './edge-node.js';
import { makeCertificate, type TestCertificate } from './test-certs.js';

describe('graceful stop of the TLS and h2c listeners', () => {
  let upstream: EchoUpstream;
  let gw: EdgeNode;
  let cert: TestCertificate;

  before(async () => {
    cert = makeCertificate({ cn: 'drain.example.test' });
    upstream = await startEchoUpstream('drain-echo');
    upstream.handler = (req, res) => {
      if (req.url !== '/slow') return false;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      setTimeout(() => res.end('data: two\n\n'), 800);
      return true;
    };
    gw = await startEdgeNode(
      { upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }], routes: [{ name: 'all', paths: ['/slow', '/echo/*'], upstream: 'echo' }] },
      { tlsPort: 0, defaultCertificate: { cert: cert.cert, key: cert.key }, h2c: true },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
    cert?.cleanup();
  });

  test('the drain sends idle HTTP/2 sessions GOAWAY, lets a stream in flight finish, and closes every listener without cutting', async () => {
    const sessions: ClientHttp2Session[] = [connect(gw.tlsUrl!, { ca: cert.cert, servername: 'drain.example.test' }), connect(gw.url)];
    const goaways = sessions.map((s) => new Promise<void>((resolve) => s.once('goaway', () => resolve())));
    for (const s of sessions) s.on('error', () => {});
    // One answered request each, so both sessions are up and idle.
    await Promise.all(
      sessions.map(
        (s) =>
          new Promise<void>((resolve) => {
            const r = s.request({ ':path': '/echo/warm' });
            r.resume();
            r.on('end', () => resolve());
            r.end();
          }),
      ),
    );
    // A stream in flight on the TLS session when the stop begins.
    const stream = sessions[0]!.request({ ':path': '/slow' });
    stream.end();
    let streamed = '';
    stream.on('data', (d: Buffer) => (streamed += d));
    const streamEnded = new Promise<void>((resolve) => stream.on('end', () => resolve()));
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    const result = await drainListeners(gw.node.listeners, { drainDelayMs: 100, shutdownTimeoutMs: 10_000, startedAt: started });
    assert.equal(result.cut, 0);
    await Promise.all(goaways);
    await streamEnded;
    assert.match(streamed, /data: one[\s\S]*data: two/);
    // No listener accepts any more.
    await assert.rejects(fetch(`${gw.url}/echo/after`));
    for (const s of sessions) s.destroy();
  });
});
