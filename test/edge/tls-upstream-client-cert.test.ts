import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { waitFor } from '../helpers/gateway.js';
import { startEdgeNode, type EdgeNode } from './edge-node.js';
import { makeCertificate, type TestCertificate } from './test-certs.js';

describe('upstream tls: a client certificate for targets that require one, and a private CA', () => {
  let upstream: Server;
  let gw: EdgeNode;
  const c: Record<string, TestCertificate> = {};
  /** Every TLS connection the worker accepted, with the client certificate it presented. */
  const connections: Array<{ client: string | undefined; socket: TLSSocket }> = [];

  before(async () => {
    c.serverCa = makeCertificate({ cn: 'Upstream CA' });
    c.clientCa = makeCertificate({ cn: 'Gateway client CA' });
    c.server = makeCertificate({ cn: 'worker.internal', ips: ['127.0.0.1'], ca: c.serverCa });
    c.client = makeCertificate({ cn: 'switchboard-gw', ca: c.clientCa });
    c.renewed = makeCertificate({ cn: 'switchboard-gw-renewed', ca: c.clientCa });
    // The worker admits only clients with a certificate from its client CA.
    upstream = createServer({ cert: c.server.cert, key: c.server.key, ca: c.clientCa.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ client: peer.subject?.CN }));
    });
    // Keep idle connections far longer than the tests last: a connection that closes does so
    // because the gateway closed it.
    upstream.keepAliveTimeout = 120_000;
    upstream.on('secureConnection', (socket: TLSSocket) => connections.push({ client: String(socket.getPeerCertificate().subject?.CN), socket }));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gw = await startEdgeNode(
      {
        certificates: [{ name: 'gw-client', snis: ['gw-client.internal'], cert: c.client.cert, key: c.client.key }],
        upstreams: [
          // Actively checked: the probes must present the certificate and trust the CA as traffic does.
          { name: 'with-cert', targets: [{ url }], tls: { clientCertificate: 'gw-client', ca: c.serverCa.cert }, healthCheck: { active: { path: '/health', intervalMs: 100, timeoutMs: 1000, unhealthyThreshold: 1, healthyThreshold: 1 } } },
          { name: 'without-cert', targets: [{ url }], tls: { ca: c.serverCa.cert } },
        ],
        routes: [
          { name: 'with', paths: ['/with/*'], upstream: 'with-cert', retries: 0 },
          { name: 'without', paths: ['/without/*'], upstream: 'without-cert', retries: 0 },
        ],
      },
      {},
    );
  });
  after(async () => {
    await gw?.close();
    upstream?.closeAllConnections();
    await new Promise<void>((resolve) => upstream?.close(() => resolve()));
    for (const cert of Object.values(c)) cert.cleanup();
  });

  test('the named stored certificate is presented to the target, verified against the upstream CA', async () => {
    const answer = await fetch(`${gw.url}/with/x`);
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), { client: 'switchboard-gw' });
  });

  test("an active HTTP probe presents the upstream's client certificate and trusts its CA: the target stays healthy", async () => {
    const url = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const state = () => gw.node.targets.get(url)!.state;
    const probed = gw.node.health.checker.runsFor(url);
    await waitFor(() => gw.node.health.checker.runsFor(url) >= probed + 2, 5000, 'two more probes');
    assert.equal(state().lastCheck?.detail, 'HTTP 200', 'the probe got through the handshake');
    assert.equal(state().healthy, true);
  });

  test('without a client certificate the target refuses the handshake and the client gets a 502', async () => {
    const answer = await fetch(`${gw.url}/without/x`);
    assert.equal(answer.status, 502);
  });

  test('a renewed client certificate is presented on new connections after the revision', async () => {
    const state = await gw.store.read();
    const exported = {
      certificates: [{ name: 'gw-client', snis: ['gw-client.internal'], cert: c.renewed!.cert, key: c.renewed!.key }],
      upstreams: state.upstreams.map(({ id: _i, version: _v, createdAt: _c, updatedAt: _u, ...u }) => u),
      routes: state.routes.map(({ id: _i, version: _v, createdAt: _c, updatedAt: _u, ...r }) => r),
    };
    const traffic = await fetch(`${gw.url}/with/before-renewal`);
    assert.deepEqual(await traffic.json(), { client: 'switchboard-gw' });
    const open = (cn: string) => connections.filter((k) => k.client === cn && !k.socket.destroyed && k.socket.readyState !== 'closed');
    assert.ok(open('switchboard-gw').length >= 1, 'a connection under the old certificate is open before the revision');
    await gw.apply(exported);
    const answer = await fetch(`${gw.url}/with/y`);
    assert.deepEqual(await answer.json(), { client: 'switchboard-gw-renewed' });
    // The target stays in the pool, but nothing presents the old certificate any more: its
    // connections close (in-flight requests would finish first) instead of idling on.
    await waitFor(() => open('switchboard-gw').length === 0, 3000, 'the connections under the replaced certificate to close');
    assert.ok(open('switchboard-gw-renewed').length >= 1, 'the renewed certificate keeps its connection');
  });

  test('naming a certificate that does not exist is refused, naming the field', async () => {
    await assert.rejects(
      gw.apply({ upstreams: [{ name: 'x', targets: [{ url: 'https://127.0.0.1:1' }], tls: { clientCertificate: 'missing' } }], routes: [] }),
      (err: Error & { errors?: Array<{ path: string; message: string }> }) => {
        assert.ok(err.errors?.some((e) => e.path === '/upstreams/0/tls/clientCertificate' && /names unknown certificate "missing"/.test(e.message)), err.message);
        return true;
      },
    );
  });
});
