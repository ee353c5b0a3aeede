import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { connect, type PeerCertificate } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { waitFor } from '../helpers/gateway.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { startHarness, type AdminHarness } from '../admin/admin-harness.js';
import { startEdgeNode, type EdgeNode } from './edge-node.js';
import { makeCertificate, type TestCertificate } from './test-certs.js';

const run = promisify(execFile);

/** The CN of the certificate the listener presents for `servername` (undefined = no SNI), by Node's tls. */
function presentedCn(port: number, servername: string | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...(servername ? { servername } : {}), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      const cert: PeerCertificate = socket.getPeerCertificate();
      socket.end();
      resolve(String(cert.subject.CN));
    });
    socket.once('error', reject);
  });
}

/** The subject openssl s_client sees for `servername`. */
async function opensslSubject(port: number, servername: string): Promise<string> {
  const { stdout } = await run('bash', ['-c', `openssl s_client -connect 127.0.0.1:${port} -servername ${servername} </dev/null 2>/dev/null | openssl x509 -noout -subject`]);
  return stdout.trim();
}

describe('TLS listener: certificates by SNI, TLS 1.2+ only, x-forwarded-proto https', () => {
  let upstream: EchoUpstream;
  let gw: EdgeNode;
  let second: EdgeNode;
  let harness: AdminHarness;
  let token: string;
  const certs: Record<string, TestCertificate> = {};

  before(async () => {
    certs.fallback = makeCertificate({ cn: 'default.test' });
    certs.api = makeCertificate({ cn: 'api.example.test' });
    certs.apps = makeCertificate({ cn: 'wild.apps.example.test', sans: ['*.apps.example.test'] });
    certs.replacement = makeCertificate({ cn: 'api-renewed.example.test', sans: ['api.example.test'] });
    certs.rsa = makeCertificate({ cn: 'rsa.example.test', type: 'rsa' });
    certs.other = makeCertificate({ cn: 'other.example.test' });
    certs.expired = makeCertificate({ cn: 'expired.example.test', expired: true });
    upstream = await startEchoUpstream('tls-echo');
    const config = {
      upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
      routes: [
        { name: 'all', paths: ['/echo/*'], upstream: 'echo' },
        { name: 'secure', paths: ['/secure/*'], upstream: 'echo', hsts: { maxAgeSeconds: 600, includeSubDomains: true } },
        { name: 'secure-keyed', paths: ['/keyed/*'], upstream: 'echo', auth: 'api-key', hsts: {} },
      ],
      certificates: [
        { name: 'api', snis: ['api.example.test'], cert: certs.api.cert, key: certs.api.key },
        { name: 'apps', snis: ['*.apps.example.test'], cert: certs.apps.cert, key: certs.apps.key },
        { name: 'rsa', snis: ['rsa.example.test'], cert: certs.rsa.cert, key: certs.rsa.key },
      ],
    };
    const defaultCertificate = { cert: certs.fallback.cert, key: certs.fallback.key };
    gw = await startEdgeNode(config, { tlsPort: 0, defaultCertificate });
    second = await startEdgeNode(undefined, { tlsPort: 0, defaultCertificate }, { storePath: gw.storePath });
    harness = await startHarness({ store: new FileStore(gw.storePath), node: gw.node });
    token = await harness.login();
  });
  after(async () => {
    await harness?.close();
    await second?.close();
    await gw?.close();
    await upstream?.close();
    for (const cert of Object.values(certs)) cert.cleanup();
  });

  test("Node's tls sees the certificate its SNI names: exact first, a wildcard for one label, the default otherwise", async () => {
    const port = gw.tlsPort!;
    assert.equal(await presentedCn(port, 'api.example.test'), 'api.example.test');
    assert.equal(await presentedCn(port, 'API.Example.Test'), 'api.example.test');
    assert.equal(await presentedCn(port, 'one.apps.example.test'), 'wild.apps.example.test');
    // RFC 6125: a wildcard covers one label, not two.
    assert.equal(await presentedCn(port, 'a.b.apps.example.test'), 'default.test');
    assert.equal(await presentedCn(port, 'unknown.example.test'), 'default.test');
    assert.equal(await presentedCn(port, undefined), 'default.test');
  });

  test('an RSA certificate beside the ECDSA default is served by SNI on Node 24; on Node 22 the default wins (documented limitation)', async () => {
    const major = Number(process.versions.node.split('.')[0]);
    // Node 22 keeps the default's ECDSA key in the connection when SNI switches context, and OpenSSL prefers it.
    assert.equal(await presentedCn(gw.tlsPort!, 'rsa.example.test'), major >= 24 ? 'rsa.example.test' : 'default.test');
  });

  test('openssl s_client -servername sees the same choice', async () => {
    assert.match(await opensslSubject(gw.tlsPort!, 'api.example.test'), /CN ?= ?api\.example\.test/);
    assert.match(await opensslSubject(gw.tlsPort!, 'x.apps.example.test'), /CN ?= ?wild\.apps\.example\.test/);
    assert.match(await opensslSubject(gw.tlsPort!, 'nothing.test'), /CN ?= ?default\.test/);
  });

  test('TLS 1.1 is refused (Node tls and openssl -tls1_1); TLS 1.2 and 1.3 are accepted', async () => {
    const attempt = (min: 'TLSv1' | 'TLSv1.2' | 'TLSv1.3', max: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3') =>
      new Promise<string>((resolve, reject) => {
        // SECLEVEL=0 lets this client offer TLS 1.1 at all; the server must still say no.
        const socket = connect({ host: '127.0.0.1', port: gw.tlsPort!, servername: 'api.example.test', rejectUnauthorized: false, minVersion: min, maxVersion: max, ciphers: 'DEFAULT@SECLEVEL=0' }, () => {
          const version = socket.getProtocol() ?? '';
          socket.end();
          resolve(version);
        });
        socket.once('error', reject);
      });
    await assert.rejects(attempt('TLSv1', 'TLSv1.1'), /protocol version|unsupported protocol|alert/i);
    assert.equal(await attempt('TLSv1.2', 'TLSv1.2'), 'TLSv1.2');
    assert.equal(await attempt('TLSv1.3', 'TLSv1.3'), 'TLSv1.3');
    const old = await run('bash', ['-c', `openssl s_client -tls1_1 -cipher 'DEFAULT@SECLEVEL=0' -connect 127.0.0.1:${gw.tlsPort} -servername api.example.test </dev/null 2>&1; echo "exit=$?"`]);
    assert.match(old.stdout, /alert protocol version/);
    assert.match(old.stdout, /Cipher is \(NONE\)/);
    assert.match(old.stdout, /exit=1/);
  });

  test('x-forwarded-proto is https through TLS (curl over HTTP/1.1 and HTTP/2) and http on the plain port', async () => {
    const resolve = `api.example.test:${gw.tlsPort}:127.0.0.1`;
    for (const version of ['--http1.1', '--http2']) {
      const { stdout } = await run('curl', ['-s', version, '--cacert', certs.api.certFile, '--resolve', resolve, '-w', '\n%{http_version}', `https://api.example.test:${gw.tlsPort}/echo/x`]);
      const [body, httpVersion] = stdout.split('\n');
      const seen = JSON.parse(body!);
      assert.equal(seen.headers['x-forwarded-proto'], 'https', version);
      assert.equal(seen.url, '/echo/x');
      assert.equal(httpVersion, version === '--http2' ? '2' : '1.1');
      assert.equal(seen.headers['x-forwarded-host'], `api.example.test:${gw.tlsPort}`);
    }
    const plain = await fetch(`${gw.url}/echo/y`);
    assert.equal(((await plain.json()) as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'http');
  });

  test('HTTP/1.1 over TLS that does not parse gets node:http\'s own 400 and is counted under route none', async () => {
    const counted = () => Number(/switchboard_requests_total\{route="none",status="400"\} (\d+)/.exec(gw.metrics.render())?.[1] ?? 0);
    const before = counted();
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: gw.tlsPort!, servername: 'api.example.test', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
        socket.write('NOT HTTP AT ALL\r\n\r\n');
      });
      let raw = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (raw += chunk));
      socket.once('close', () => resolve(raw));
      socket.once('error', reject);
    });
    assert.equal(answer, 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    await waitFor(() => counted() === before + 1, 2000, 'the TLS listener\'s 400 counted');
  });

  test('a route with hsts sends Strict-Transport-Security over TLS (HTTP/1.1 and HTTP/2, its refusals too), never over plain HTTP', async () => {
    const resolve = `api.example.test:${gw.tlsPort}:127.0.0.1`;
    const headerOf = async (args: string[], url: string) => {
      const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-D', '-', ...args, url]);
      return { status: Number(/^HTTP\/[\d.]+ (\d{3})/.exec(stdout)?.[1]), hsts: /^strict-transport-security: (.*)\r$/im.exec(stdout)?.[1] };
    };
    const tls = ['--cacert', certs.api.certFile, '--resolve', resolve];
    for (const version of ['--http1.1', '--http2']) {
      assert.deepEqual(await headerOf([...tls, version], `https://api.example.test:${gw.tlsPort}/secure/a`), { status: 200, hsts: 'max-age=600; includeSubDomains' }, version);
      assert.deepEqual(await headerOf([...tls, version], `https://api.example.test:${gw.tlsPort}/keyed/a`), { status: 401, hsts: 'max-age=31536000' }, version);
      assert.deepEqual(await headerOf([...tls, version], `https://api.example.test:${gw.tlsPort}/echo/a`), { status: 200, hsts: undefined }, version);
    }
    assert.deepEqual(await headerOf([], `${gw.url}/secure/a`), { status: 200, hsts: undefined });
  });

  test('hsts.preload without includeSubDomains and a year is refused with 400 naming it', async () => {
    const answer = await harness.api('POST', '/routes', { token, body: { name: 'preload', paths: ['/preload/*'], upstream: 'echo', hsts: { maxAgeSeconds: 600, preload: true } } });
    assert.equal(answer.status, 400, answer.text);
    assert.match(answer.text, /hsts\.preload needs includeSubDomains/);
  });

  test('a certificate replaced through the admin API is served to new connections within 2 s on a second node', async () => {
    assert.equal(await presentedCn(second.tlsPort!, 'api.example.test'), 'api.example.test');
    const put = await harness.api('PUT', '/certificates/api', { token, body: { name: 'api', snis: ['api.example.test'], cert: certs.replacement.cert, key: certs.replacement.key } });
    assert.equal(put.status, 200, put.text);
    const started = Date.now();
    await waitFor(async () => (await presentedCn(second.tlsPort!, 'api.example.test')) === 'api-renewed.example.test', 2000, 'the renewed certificate on the second node');
    assert.ok(Date.now() - started <= 2000);
    assert.equal(await presentedCn(gw.tlsPort!, 'api.example.test'), 'api-renewed.example.test');
  });

  test('bad certificates are refused with 400 naming the fault, and nothing is saved', async () => {
    const before = (await harness.store.read()).revision;
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['not PEM', { cert: 'hello', key: certs.other.key }, /cert of certificate "bad" is not a PEM certificate/],
      ['key of another certificate', { cert: certs.other.cert, key: certs.api.key }, /key of certificate "bad" does not belong to the certificate/],
      ['key not PEM', { cert: certs.other.cert, key: 'nope' }, /key of certificate "bad" is not a PEM private key/],
      ['expired', { cert: certs.expired.cert, key: certs.expired.key }, /cert of certificate "bad" expired on/],
    ];
    for (const [why, fields, message] of cases) {
      const answer = await harness.api('POST', '/certificates', { token, body: { name: 'bad', snis: ['bad.example.test'], ...fields } });
      assert.equal(answer.status, 400, why);
      assert.match(answer.body.detail, message, why);
      assert.match(answer.body.errors[0].path, /^\/certificates\/\d+\/(cert|key)$/, why);
      // The key never comes back in the refusal.
      assert.ok(!answer.text.includes('PRIVATE KEY'), why);
    }
    const exported = (await harness.api('GET', '/config', { token })).body;
    const put = await harness.api('PUT', '/config', { token, body: { ...exported.config ?? exported, certificates: [{ name: 'bad', snis: ['bad.example.test'], cert: certs.expired.cert, key: certs.expired.key }] } });
    assert.equal(put.status, 400, put.text);
    assert.equal((await harness.store.read()).revision, before);
  });

  test('a stored certificate that cannot be served is skipped and reported; the listener keeps serving the rest', async () => {
    // Written to the store directly, as an expired-while-stored certificate would be found.
    const state = await gw.store.read();
    const broken = { ...state.certificates[0]!, id: 'broken', name: 'broken', snis: ['broken.example.test'], cert: certs.expired.cert, key: certs.expired.key };
    await gw.store.commit({ ...state, certificates: [...state.certificates, broken], revision: state.revision + 1 }, { expectedRevision: state.revision, keepRevision: true, actor: 'test', action: 'test', audit: [] });
    await waitFor(() => gw.node.revision > state.revision, 5000, 'the revision with the broken certificate');
    assert.deepEqual(gw.node.skippedCertificates.map((s) => s.name), ['broken']);
    assert.match(gw.node.skippedCertificates[0]!.reason, /expired/);
    assert.equal(await presentedCn(gw.tlsPort!, 'broken.example.test'), 'default.test');
    assert.equal(await presentedCn(gw.tlsPort!, 'one.apps.example.test'), 'wild.apps.example.test');
    // The metrics say so too, and when each served certificate expires (alert on it).
    const text = await gw.node.metrics.scrape();
    assert.match(text, /^switchboard_tls_certificates_skipped 1$/m);
    const notAfter = Number(/^switchboard_tls_certificate_not_after_seconds\{certificate="apps"\} (\d+)$/m.exec(text)?.[1]);
    assert.equal(notAfter, Math.floor(Date.parse(new X509Certificate(certs.apps!.cert).validTo) / 1000));
    assert.match(text, /^switchboard_tls_certificate_not_after_seconds\{certificate="default"\} \d+$/m);
    assert.doesNotMatch(text, /certificate="broken"/);
    // And the admin API, per certificate, as this node's listener sees it.
    const skipped = await harness.api('GET', '/certificates/broken/status', { token });
    assert.equal(skipped.status, 200);
    assert.equal(skipped.body.served, false);
    assert.match(skipped.body.reason, /expired/);
    const served = await harness.api('GET', '/certificates/apps/status', { token });
    assert.deepEqual(served.body, { name: 'apps', served: true, notAfter: new Date(new X509Certificate(certs.apps!.cert).validTo).toISOString() });
    assert.equal((await harness.api('GET', '/certificates/nope/status', { token })).status, 404);
  });
});
