import assert from 'node:assert/strict';
import { Agent, createServer, request, type Server } from 'node:http';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { drainListeners } from '../../gateway/src/node/drain.js';
import { startEdgeNode, type EdgeNode } from '../edge/edge-node.js';
import { accepts } from './lifecycle-harness.js';

/** An upstream whose /slow/N answers after N ms and whose /hang never answers. */
async function slowUpstream(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/slow/')) return void setTimeout(() => res.end('slow done'), Number(req.url.slice(6)));
    if (req.url === '/hang') return;
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function h1(agent: Agent | false, url: string): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function h2(session: ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path });
    stream.on('response', (headers) => resolve(Number(headers[':status'])));
    stream.on('error', reject);
    stream.resume();
    stream.end();
  });
}

function configFor(upstream: string) {
  return { upstreams: [{ name: 'u', targets: [{ url: upstream }] }], routes: [{ name: 'r', paths: ['/*'], upstream: 'u', timeoutMs: 60_000 }], consumers: [] };
}

test('drain over the plain and h2c listeners: HTTP/1 answers say connection: close, HTTP/2 sessions get GOAWAY, idle sessions do not hold it, in-flight requests finish, then connections are refused', async (t) => {
  const up = await slowUpstream();
  const edge: EdgeNode = await startEdgeNode(configFor(up.url), { h2c: true });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const sessions: ClientHttp2Session[] = [];
  t.after(async () => {
    agent.destroy();
    for (const s of sessions) s.destroy();
    await edge.close().catch(() => {});
    up.server.closeAllConnections();
    up.server.close();
  });
  assert.equal((await h1(agent, `${edge.url}/x`)).connection, 'keep-alive');
  const active = h2connect(edge.url);
  const idle = h2connect(edge.url);
  sessions.push(active, idle);
  for (const s of sessions) s.on('error', () => {});
  assert.equal(await h2(active, '/x'), 200);
  assert.equal(await h2(idle, '/x'), 200);
  let goaway = false;
  active.on('goaway', () => (goaway = true));

  const inFlight = h1(false, `${edge.url}/slow/2500`);
  await sleep(100);
  const startedAt = Date.now();
  const drained = drainListeners(edge.node.listeners, { drainDelayMs: 1_000, shutdownTimeoutMs: 30_000, startedAt });

  const kept = await h1(agent, `${edge.url}/x`);
  assert.equal(kept.status, 200);
  assert.equal(kept.connection, 'close', 'the kept-alive HTTP/1 client is told to reconnect');
  assert.equal((await h1(false, `${edge.url}/x`)).status, 200, 'a new connection during the delay is served');
  assert.equal(await h2(active, '/x'), 200, 'an HTTP/2 session is still answered during the delay');
  for (let i = 0; i < 50 && !goaway; i++) await sleep(20);
  assert.ok(goaway, 'and then sent GOAWAY');

  const { cut } = await drained;
  const took = Date.now() - startedAt;
  assert.equal(cut, 0, 'nothing had to be cut');
  assert.ok(took < 10_000, `drained in ${took} ms: the idle HTTP/2 session did not hold it for its 65 s idle timeout`);
  assert.equal((await inFlight).body, 'slow done', 'the in-flight request finished');
  assert.equal(await accepts(edge.port), false, 'refused once drained');
});

test('drain stops waiting at SHUTDOWN_TIMEOUT_MS (counted from the signal) and cuts what is still open', async (t) => {
  const up = await slowUpstream();
  const edge: EdgeNode = await startEdgeNode(configFor(up.url), {});
  t.after(async () => {
    await edge.close().catch(() => {});
    up.server.closeAllConnections();
    up.server.close();
  });
  const hung = h1(false, `${edge.url}/hang`).then(
    () => 'answered',
    () => 'cut',
  );
  await sleep(100);
  const startedAt = Date.now();
  const { cut } = await drainListeners(edge.node.listeners, { drainDelayMs: 300, shutdownTimeoutMs: 1_500, startedAt });
  const took = Date.now() - startedAt;
  assert.equal(cut, 1, 'the hung request was cut');
  assert.ok(took >= 1_400 && took < 4_000, `gave up after ${took} ms`);
  assert.equal(await hung, 'cut');
});
