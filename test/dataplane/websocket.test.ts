import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { startWebSocketEcho } from '../helpers/websocket-upstream.js';

let upstream: Awaited<ReturnType<typeof startWebSocketEcho>>;
let gw: TestGateway;
/** A port nothing listens on: connections to it are refused. */
let deadUrl: string;
/** A target that agrees to the upgrade 300 ms after the handshake; its sockets, to see them close. */
const slowSockets: Socket[] = [];
/** A target that declines every upgrade with 503 (a worker draining or overloaded); the handshakes it saw. */
let declinedHandshakes = 0;
const declining = createServer((socket) => {
  socket.once('data', () => {
    declinedHandshakes++;
    socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 4\r\nconnection: close\r\n\r\nbusy');
  });
  socket.on('error', () => socket.destroy());
});
const slow = createServer((socket) => {
  slowSockets.push(socket);
  socket.once('data', () => setTimeout(() => socket.writable && socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n'), 300));
  socket.on('error', () => socket.destroy());
});

before(async () => {
  upstream = await startWebSocketEcho('realtime');
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  deadUrl = `http://127.0.0.1:${(probe.address() as { port: number }).port}`;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => declining.listen(0, '127.0.0.1', resolve));
  const decliningUrl = `http://127.0.0.1:${(declining.address() as { port: number }).port}`;
  gw = await startGateway({
    upstreams: [
      { name: 'rt', targets: [{ url: upstream.url }] },
      // Round robin over a target that refuses connections and one that serves; no health
      // checks, so the refusing one stays in the rotation.
      { name: 'half-down', targets: [{ url: deadUrl }, { url: upstream.url }] },
      { name: 'slow', targets: [{ url: `http://127.0.0.1:${(slow.address() as { port: number }).port}` }] },
      // Round robin over a target that declines upgrades with 503 and one that serves.
      { name: 'half-busy', targets: [{ url: decliningUrl }, { url: upstream.url }] },
    ],
    routes: [
      { name: 'realtime', methods: ['GET'], paths: ['/v1/realtime'], upstream: 'rt' },
      { name: 'keyed', methods: ['GET'], paths: ['/v1/keyed'], upstream: 'rt', auth: 'api-key' },
      { name: 'quiet', methods: ['GET'], paths: ['/v1/quiet'], upstream: 'rt', upgradeIdleTimeoutMs: 400 },
      { name: 'retried', methods: ['GET'], paths: ['/v1/retried'], upstream: 'half-down', retries: 1 },
      { name: 'unretried', methods: ['GET'], paths: ['/v1/unretried'], upstream: 'half-down', retries: 0 },
      { name: 'slow', methods: ['GET'], paths: ['/v1/slow'], upstream: 'slow' },
      { name: 'busy-retried', methods: ['GET'], paths: ['/v1/busy-retried'], upstream: 'half-busy', retries: 1 },
      { name: 'busy-unretried', methods: ['GET'], paths: ['/v1/busy-unretried'], upstream: 'half-busy', retries: 0 },
    ],
    consumers: [],
  });
});
after(async () => {
  await gw.close();
  await upstream.close();
  for (const socket of slowSockets) socket.destroy();
  await new Promise<void>((resolve) => slow.close(() => resolve()));
  await new Promise<void>((resolve) => declining.close(() => resolve()));
});

function open(path: string): Promise<{ ws: WebSocket; opened: boolean; messages: string[] }> {
  const ws = new WebSocket(`${gw.url.replace('http', 'ws')}${path}`);
  const state = { ws, opened: false, messages: [] as string[] };
  ws.addEventListener('message', (e) => state.messages.push(String(e.data)));
  return new Promise((resolve) => {
    ws.addEventListener('open', () => {
      state.opened = true;
      resolve(state);
    });
    ws.addEventListener('error', () => resolve(state));
    ws.addEventListener('close', () => resolve(state));
  });
}

test('a WebSocket passes through the gateway both ways, with forwarded headers on the handshake', async () => {
  const { ws, opened, messages } = await open('/v1/realtime');
  assert.ok(opened, 'the handshake completed through the gateway');
  ws.send('hello');
  ws.send('again');
  await waitFor(() => messages.length === 2, 3000, 'two echoes');
  assert.deepEqual(messages, ['realtime: hello', 'realtime: again']);
  const handshake = upstream.handshakes.at(-1)!;
  assert.equal(handshake.headers['x-forwarded-for'], '127.0.0.1');
  assert.ok(handshake.headers['x-request-id']);
  ws.close();
  await waitFor(() => gw.node.generation!.activeRequests === 0, 3000, 'the generation to see the socket close');
});

test('the route’s stages apply to the handshake: no key, no WebSocket', async () => {
  const before = upstream.handshakes.length;
  const { opened } = await open('/v1/keyed');
  assert.equal(opened, false);
  assert.equal(upstream.handshakes.length, before, 'the upstream never saw it');
});

test('an unknown path refuses the upgrade', async () => {
  const { opened } = await open('/v1/nowhere');
  assert.equal(opened, false);
});

test('a WebSocket that carries nothing for the route\'s upgradeIdleTimeoutMs is closed, both sides; one that talks stays open', async () => {
  const talking = await open('/v1/quiet');
  const silent = await open('/v1/quiet');
  assert.ok(talking.opened && silent.opened);
  let silentClosedAt = 0;
  silent.ws.addEventListener('close', () => (silentClosedAt = Date.now()));
  let talkingClosed = false;
  talking.ws.addEventListener('close', () => (talkingClosed = true));
  const started = Date.now();
  // One direction is enough to keep a tunnel alive: a message every 150 ms, well inside 400.
  const chatter = setInterval(() => talking.ws.send('ping'), 150);
  try {
    await waitFor(() => silentClosedAt > 0, 3000, 'the silent WebSocket to be closed');
    assert.ok(silentClosedAt - started >= 350, `closed after ${silentClosedAt - started} ms, before its idle timeout`);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(talkingClosed, false, 'the talking WebSocket outlived the idle timeout');
    assert.ok(talking.messages.length >= 5, `echoes kept coming (${talking.messages.length})`);
  } finally {
    clearInterval(chatter);
    talking.ws.close();
  }
  await waitFor(() => gw.node.generation!.activeRequests === 0, 3000, 'the generation to see both sockets close');
});

test("a handshake whose target refuses the connection is retried on another (within the route's retries)", async () => {
  const before = upstream.handshakes.length;
  const sockets: Array<Awaited<ReturnType<typeof open>>> = [];
  for (let i = 0; i < 4; i++) sockets.push(await open('/v1/retried'));
  assert.deepEqual(sockets.map((s) => s.opened), [true, true, true, true], 'every handshake reached the serving target');
  assert.equal(upstream.handshakes.length, before + 4);
  sockets[0]!.ws.send('through');
  await waitFor(() => sockets[0]!.messages.length === 1, 3000, 'an echo');
  assert.deepEqual(sockets[0]!.messages, ['realtime: through']);
  for (const s of sockets) s.ws.close();
  await waitFor(() => gw.node.generation!.activeRequests === 0, 3000, 'the generation to see the sockets close');
});

test('with retries 0 a refused handshake fails as before: 502, the client sees no WebSocket', async () => {
  const opened: boolean[] = [];
  for (let i = 0; i < 4; i++) {
    const s = await open('/v1/unretried');
    opened.push(s.opened);
    s.ws.close();
  }
  assert.equal(opened.filter(Boolean).length, 2, `round robin: half the handshakes met the refusing target (${opened})`);
  await waitFor(() => gw.node.generation!.activeRequests === 0, 3000, 'the generation to see the sockets close');
});

test('a handshake a target declines with 503 is retried on another, as any GET answered 503 is; with retries 0 the 503 is relayed', async () => {
  const seenBefore = declinedHandshakes;
  // Eight tunnels kept open, about half of them retried: a retry's budget token goes back once its
  // handshake is answered, not when its tunnel closes, or the pool's budget (3 at least) ran dry.
  const retried: Array<Awaited<ReturnType<typeof open>>> = [];
  for (let i = 0; i < 8; i++) retried.push(await open('/v1/busy-retried'));
  assert.deepEqual(retried.map((s) => s.opened), Array(8).fill(true), 'every handshake reached the serving target');
  assert.ok(declinedHandshakes > seenBefore, 'the declining target was tried');
  retried[1]!.ws.send('after a 503');
  await waitFor(() => retried[1]!.messages.length === 1, 3000, 'an echo');
  assert.deepEqual(retried[1]!.messages, ['realtime: after a 503']);
  for (const s of retried) s.ws.close();

  // Without retries the target's own answer reaches the client, as before.
  const { port } = new URL(gw.url);
  const statuses: string[] = [];
  for (let i = 0; i < 2; i++) {
    const client = connect(Number(port), '127.0.0.1');
    const answer = await new Promise<string>((resolve) => {
      let got = '';
      client.on('data', (d) => {
        got += d;
        if (got.includes('\r\n\r\n')) resolve(got);
      });
      client.write('GET /v1/busy-unretried HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    });
    statuses.push(answer.split('\r\n')[0]!);
    client.destroy();
  }
  assert.deepEqual(statuses.sort(), ['HTTP/1.1 101 Switching Protocols', 'HTTP/1.1 503 Service Unavailable'], 'round robin: one handshake met the declining target');
  await waitFor(() => gw.node.generation!.activeRequests === 0, 3000, 'the generation to see the sockets close');
  const metrics = gw.node.metrics.render();
  assert.match(metrics, /switchboard_requests_total\{route="busy-unretried",status="503"\} 1/);
});

test('a client that leaves while the target is still agreeing to the upgrade leaves no tunnel behind', async () => {
  const { port } = new URL(gw.url);
  const client = connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  client.write('GET /v1/slow HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  await waitFor(() => slowSockets.length === 1, 3000, 'the handshake to reach the target');
  client.destroy();
  // The target agrees 300 ms in; the gateway must close its side at once rather than hold the
  // upstream socket open until the route's upgradeIdleTimeoutMs (5 min here).
  await waitFor(() => slowSockets[0]!.readableEnded || slowSockets[0]!.destroyed, 3000, "the gateway to close its side of the target's socket");
  await waitFor(() => gw.node.generation!.activeRequests === 0, 3000, 'the generation to see the request end');
});
