import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { RESET_LIMIT } from '../../gateway/src/node/h2-limits.js';
import { startEdgeNode, type EdgeNode } from './edge-node.js';
import { makeCertificate, type TestCertificate } from './test-certs.js';

const run = promisify(execFile);

interface H2Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function h2Get(session: ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':path': path, ...headers });
    let responseHeaders: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => (responseHeaders = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
    req.end();
  });
}

/** Connection-specific headers RFC 9113 §8.2.2 forbids in HTTP/2. */
const CONNECTION_SPECIFIC = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

describe('HTTP/2 for clients: ALPN on TLS, prior-knowledge h2c beside HTTP/1.1, its limits', () => {
  let upstream: EchoUpstream;
  let gw: EdgeNode;
  let cert: TestCertificate;

  before(async () => {
    cert = makeCertificate({ cn: 'h2.example.test' });
    upstream = await startEchoUpstream('h2-echo');
    upstream.handler = (req, res) => {
      if (req.url !== '/sse') return false;
      // A worker streaming tokens: one event now, the next 1.5 s later, then the end.
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write('data: first\n\n');
      setTimeout(() => {
        res.write('data: second\n\n');
        res.end('data: [DONE]\n\n');
      }, 1500);
      return true;
    };
    gw = await startEdgeNode(
      {
        upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
        routes: [
          { name: 'echo', paths: ['/echo/*'], upstream: 'echo' },
          { name: 'sse', paths: ['/sse'], upstream: 'echo' },
          { name: 'keyed', paths: ['/keyed/*'], upstream: 'echo', auth: 'api-key' },
        ],
      },
      { tlsPort: 0, defaultCertificate: { cert: cert.cert, key: cert.key }, h2c: true },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
    cert?.cleanup();
  });

  test('curl --http2-prior-knowledge and plain HTTP/1.1 are both served on the plain port when H2C=1', async () => {
    const h2 = await run('curl', ['-s', '--http2-prior-knowledge', '-w', '\n%{http_version}', `${gw.url}/echo/h2c?q=1`]);
    const [body, version] = h2.stdout.split('\n');
    assert.equal(version, '2');
    const seen = JSON.parse(body!);
    assert.equal(seen.url, '/echo/h2c?q=1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-host'], `127.0.0.1:${gw.port}`);
    // Pseudo-headers describe the client's hop; they must not reach the upstream as headers.
    assert.ok(!Object.keys(seen.headers).some((name) => name.startsWith(':')));
    const h1 = await run('curl', ['-s', '--http1.1', '-w', '\n%{http_version}', `${gw.url}/echo/h1`]);
    assert.equal(h1.stdout.split('\n')[1], '1.1');
    assert.equal(JSON.parse(h1.stdout.split('\n')[0]!).url, '/echo/h1');
  });

  test('nghttp (nghttp2-client) gets answers over h2c', async () => {
    const { stdout } = await run('nghttp', ['-s', `${gw.url}/echo/from-nghttp`]);
    assert.match(stdout, /from-nghttp/);
  });

  test("the gateway's own answers over HTTP/2 carry no connection-specific headers: a refused target, a missing key, an unknown path", async () => {
    const session = connect(gw.url);
    try {
      for (const [path, status] of [['/echo/%2Fescaped', 400], ['/keyed/x', 401], ['/nowhere', 404]] as const) {
        const answer = await h2Get(session, path);
        assert.equal(answer.status, status, path);
        assert.match(String(answer.headers['content-type']), /json/, path);
        for (const name of CONNECTION_SPECIFIC) assert.equal(answer.headers[name], undefined, `${path}: ${name}`);
      }
      const ok = await h2Get(session, '/echo/fine');
      assert.equal(ok.status, 200);
      for (const name of CONNECTION_SPECIFIC) assert.equal(ok.headers[name], undefined, name);
    } finally {
      session.close();
    }
  });

  test('an SSE stream over h2 (TLS) delivers its first event before the worker finishes', async () => {
    const session = connect(gw.tlsUrl!, { ca: cert.cert, servername: 'h2.example.test' });
    try {
      const started = Date.now();
      const req = session.request({ ':path': '/sse', accept: 'text/event-stream' });
      req.end();
      const events: Array<{ at: number; text: string }> = [];
      await new Promise<void>((resolve, reject) => {
        req.on('data', (chunk: Buffer) => events.push({ at: Date.now() - started, text: chunk.toString() }));
        req.on('end', resolve);
        req.on('error', reject);
      });
      assert.match(events[0]!.text, /data: first/);
      // The worker sends its second event 1.5 s after the first: the first must have arrived well before
      // (measured between the two, so a slow handshake on a loaded machine does not count).
      const last = events[events.length - 1]!;
      assert.ok(last.at - events[0]!.at >= 1000, `first event at ${events[0]!.at} ms, end at ${last.at} ms`);
      assert.doesNotMatch(events[0]!.text, /second/);
      assert.match(events.map((e) => e.text).join(''), /data: second[\s\S]*\[DONE\]/);
      assert.equal(session.alpnProtocol, 'h2');
    } finally {
      session.close();
    }
  });

  test('a client learns the HTTP/2 limits from SETTINGS: 128 concurrent streams, a 64 KiB header list', async () => {
    const session = connect(gw.url);
    try {
      await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
      assert.equal(session.remoteSettings.maxConcurrentStreams, 128);
      assert.equal(session.remoteSettings.maxHeaderListSize, 65_536);
      // 128 requests at once are all answered.
      const answers = await Promise.all(Array.from({ length: 128 }, (_, i) => h2Get(session, `/echo/${i}`)));
      assert.ok(answers.every((a) => a.status === 200));
    } finally {
      session.close();
    }
  });

  test('rapid reset (CVE-2023-44487): a client opening and cancelling thousands of streams loses its session; others keep being served', async () => {
    const attacker = connect(gw.url);
    attacker.on('error', () => {});
    const closed = new Promise<number | undefined>((resolve) => {
      attacker.once('goaway', (code: number) => resolve(code));
      attacker.once('close', () => resolve(undefined));
    });
    await new Promise<void>((resolve) => attacker.once('remoteSettings', () => resolve()));
    let opened = 0;
    // Batches keep the client under its own concurrency bound; each stream is reset right after its HEADERS.
    for (let batch = 0; batch < 40 && !attacker.destroyed && !attacker.closed; batch++) {
      for (let i = 0; i < 100 && !attacker.destroyed && !attacker.closed; i++) {
        try {
          const req = attacker.request({ ':path': `/echo/reset-${opened++}` });
          req.on('error', () => {});
          req.close(constants.NGHTTP2_CANCEL);
        } catch {
          break;
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    const code = await Promise.race([closed, new Promise<'open'>((r) => setTimeout(() => r('open'), 5000))]);
    assert.notEqual(code, 'open', `the session survived ${opened} reset streams`);
    if (typeof code === 'number') assert.equal(code, constants.NGHTTP2_ENHANCE_YOUR_CALM);
    assert.ok(opened > RESET_LIMIT);
    // Another client is served as before.
    const other = connect(gw.url);
    try {
      assert.equal((await h2Get(other, '/echo/after-attack')).status, 200);
    } finally {
      other.close();
    }
    attacker.destroy();
  });
});
