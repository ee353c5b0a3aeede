import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { connect as connectH2 } from 'node:http2';
import { request } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startEdgeNode, type EdgeNode } from './edge-node.js';
import { makeCertificate, type TestCertificate } from './test-certs.js';

interface Answer {
  status: number;
  body: string;
}

describe('mTLS: TLS_CLIENT_CA_FILE asks for client certificates; auth "mtls" routes admit the consumer a verified one names', () => {
  let upstream: EchoUpstream;
  let gw: EdgeNode;
  const c: Record<string, TestCertificate> = {};

  /** One HTTPS request over HTTP/1.1, presenting `client` (or no certificate). */
  const get = (path: string, client: TestCertificate | undefined, servername = 'gw.example.test'): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: gw.tlsPort, path, servername, ca: [c.server!.cert, c.sni!.cert], ...(client ? { cert: client.cert, key: client.key } : {}), agent: false },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });

  before(async () => {
    c.ca = makeCertificate({ cn: 'Partner CA' });
    c.server = makeCertificate({ cn: 'gw.example.test' });
    c.sni = makeCertificate({ cn: 'sni.example.test' });
    c.partner1 = makeCertificate({ cn: 'partner-1', ca: c.ca });
    c.partner2 = makeCertificate({ cn: 'partner-2', ca: c.ca });
    c.stranger = makeCertificate({ cn: 'stranger', ca: c.ca });
    // Same subject as partner-2, but not signed by the partner CA.
    c.forger = makeCertificate({ cn: 'partner-2' });
    upstream = await startEchoUpstream('mtls-echo');
    gw = await startEdgeNode(
      {
        upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
        routes: [
          { name: 'partners', paths: ['/m/*'], upstream: 'echo', auth: 'mtls' },
          { name: 'open', paths: ['/open/*'], upstream: 'echo' },
        ],
        consumers: [
          { name: 'acme', mtls: [{ fingerprint256: new X509Certificate(c.partner1.cert).fingerprint256 }] },
          { name: 'beta', mtls: [{ subject: 'CN=partner-2' }] },
        ],
        certificates: [{ name: 'sni', snis: ['sni.example.test'], cert: c.sni.cert, key: c.sni.key }],
      },
      { tlsPort: 0, defaultCertificate: { cert: c.server.cert, key: c.server.key }, clientCa: c.ca.cert },
    );
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
    for (const cert of Object.values(c)) cert.cleanup();
  });

  test('a certificate named by fingerprint or by subject admits its consumer, who is named upstream', async () => {
    const one = await get('/m/a', c.partner1);
    assert.equal(one.status, 200, one.body);
    assert.equal(JSON.parse(one.body).headers['x-consumer-name'], 'acme');
    const two = await get('/m/b', c.partner2);
    assert.equal(two.status, 200, two.body);
    assert.equal(JSON.parse(two.body).headers['x-consumer-name'], 'beta');
  });

  test('no certificate, one from the CA that no consumer names, or one the CA did not sign: 401', async () => {
    assert.equal((await get('/m/a', undefined)).status, 401);
    assert.equal((await get('/m/a', c.stranger)).status, 401);
    assert.equal((await get('/m/a', c.forger)).status, 401);
  });

  test('certificates are asked for, not required: routes without mtls answer clients without one', async () => {
    assert.equal((await get('/open/x', undefined)).status, 200);
    assert.equal((await get('/open/x', c.forger)).status, 200);
  });

  test('a server certificate chosen by SNI asks for client certificates too', async () => {
    const answer = await get('/m/sni', c.partner1, 'sni.example.test');
    assert.equal(answer.status, 200, answer.body);
    assert.equal((await get('/m/sni', undefined, 'sni.example.test')).status, 401);
  });

  test('over HTTP/2 the same certificate admits the same consumer', async () => {
    const session = connectH2(gw.tlsUrl!, { ca: c.server.cert, servername: 'gw.example.test', cert: c.partner1.cert, key: c.partner1.key });
    try {
      const answer = await new Promise<Answer>((resolve, reject) => {
        const req = session.request({ ':path': '/m/h2' });
        let status = 0;
        let body = '';
        req.on('response', (h) => (status = Number(h[':status'])));
        req.on('data', (d: Buffer) => (body += d));
        req.on('end', () => resolve({ status, body }));
        req.on('error', reject);
        req.end();
      });
      assert.equal(answer.status, 200, answer.body);
      assert.equal(JSON.parse(answer.body).headers['x-consumer-name'], 'acme');
    } finally {
      session.close();
    }
  });
});
