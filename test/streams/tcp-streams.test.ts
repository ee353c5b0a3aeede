import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { echoTarget, freePort, tcpClient, whoAnswers, type EchoTarget } from './echo-pool.js';

const PROXY_V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

describe('TCP streams: each enabled stream is a listener joined to its upstream pool', () => {
  let a: EchoTarget, b: EchoTarget, c: EchoTarget;
  let gw: TestGateway;
  let ports: { echo: number; spare: number; proxied: number; idle: number };
  let deadPort: number;

  const config = (extra: { streams?: unknown[]; upstreams?: unknown[] } = {}) => ({
    upstreams: [
      { name: 'echo-pool', targets: [{ url: a.url }, { url: b.url }, { url: c.url }] },
      { name: 'half-dead', targets: [{ url: `http://127.0.0.1:${deadPort}` }, { url: a.url }, { url: b.url }], healthCheck: { passive: { consecutiveFailures: 100 } } },
      { name: 'least', algorithm: 'least-connections', targets: [{ url: a.url }, { url: b.url }] },
      ...(extra.upstreams ?? []),
    ],
    routes: [],
    streams: extra.streams ?? [
      { name: 'echo', port: ports.echo, upstream: 'echo-pool' },
      { name: 'proxied', port: ports.proxied, upstream: 'half-dead', proxyProtocol: true },
      { name: 'idle', port: ports.idle, upstream: 'least', idleTimeoutMs: 300 },
    ],
  });

  before(async () => {
    [a, b, c] = await Promise.all([echoTarget('a'), echoTarget('b'), echoTarget('c')]);
    ports = { echo: await freePort(), spare: await freePort(), proxied: await freePort(), idle: await freePort() };
    deadPort = await freePort();
    gw = await startGateway(config(), { pollMs: 50 });
  });
  after(async () => {
    await gw?.close();
    await Promise.all([a, b, c].map((t) => t?.close()));
  });

  test('round robin over three targets is exact: six connections, each target twice, in a fixed cycle', async () => {
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await whoAnswers(ports.echo));
    assert.deepEqual([...answers].sort(), ['a', 'a', 'b', 'b', 'c', 'c']);
    assert.deepEqual(answers.slice(3), answers.slice(0, 3), `cycle repeats: ${answers.join(',')}`);
    const scrape = await gw.metrics.scrape();
    for (const t of [a, b, c]) assert.match(String(scrape), new RegExp(`switchboard_stream_connections_total\\{stream="echo",target="${t.url}"\\} 2`));
  });

  test('bytes flow both ways and a client that half-closes still reads the reply', async () => {
    const client = await tcpClient(ports.echo);
    const reply = new Promise<string>((resolve) => {
      let got = '';
      client.socket.on('data', (d) => (got += d.toString()));
      client.socket.on('end', () => resolve(got));
    });
    client.socket.end('last words');
    // The echo target answers after the client's FIN reached it; then its own FIN comes back.
    const received = await Promise.race([reply, sleep(1000).then(() => 'nothing before the target closed')]);
    assert.match(received, /^[abc]:last words$/);
    client.socket.destroy();
  });

  test('a dead target is skipped: its connect is refused, the next target answers, and the failure is counted', async () => {
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await whoAnswers(ports.proxied));
    assert.ok(answers.every((n) => n === 'a' || n === 'b'), answers.join(','));
    const scrape = String(await gw.metrics.scrape());
    assert.match(scrape, new RegExp(`switchboard_stream_connect_failures_total\\{stream="proxied",target="http://127.0.0.1:${deadPort}"\\} [1-9]`));
  });

  test('a refused connect counts for passive health: with consecutiveFailures 1 the dead target is ejected after one connection', async () => {
    const dead = `http://127.0.0.1:${deadPort}`;
    await gw.apply(config({ streams: [{ name: 'ejecting', port: ports.spare, upstream: 'ejecting' }], upstreams: [{ name: 'ejecting', targets: [{ url: dead }, { url: c.url }], healthCheck: { passive: { consecutiveFailures: 1, ejectMs: 60000, maxEjectionPercent: 50 } } }] }));
    for (let i = 0; i < 2; i++) assert.equal(await whoAnswers(ports.spare), 'c');
    const state = gw.node.targets.get(dead)!.state;
    assert.ok(state.ejectedUntil > Date.now(), 'the dead target is ejected');
    assert.deepEqual(gw.node.upstreams.get('ejecting')!.eligibleMembers().map((m) => m.target.url), [c.url]);
    await gw.apply(config());
  });

  test("with proxyProtocol the target's first bytes are a PROXY v2 header carrying the client's address and port", async () => {
    const before = a.firstChunks.length + b.firstChunks.length;
    const client = await tcpClient(ports.proxied);
    const reply = await client.ask('payload');
    const chunks = [...a.firstChunks, ...b.firstChunks];
    assert.equal(chunks.length, before + 1);
    const header = (reply.startsWith('a:') ? a : b).firstChunks.at(-1)!;
    assert.deepEqual(header.subarray(0, 12), PROXY_V2_SIGNATURE);
    assert.equal(header[12], 0x21, 'version 2, PROXY command');
    assert.equal(header[13], 0x11, 'TCP over IPv4');
    assert.equal(header.readUInt16BE(14), 12);
    assert.equal([...header.subarray(16, 20)].join('.'), '127.0.0.1', 'source address is the client');
    assert.equal(header.readUInt16BE(24), client.socket.localPort, "source port is the client's");
    assert.equal(header.readUInt16BE(26), ports.proxied, "destination port is the stream's");
    // The client's own bytes follow the header, untouched (possibly in the same chunk).
    assert.match(reply, /payload$/);
    client.socket.destroy();
  });

  test('least-connections counts open connections: while one is held on a target, the next goes to the other', async () => {
    const held = await tcpClient(ports.idle);
    const first = (await held.ask('x')).split(':')[0];
    const second = await tcpClient(ports.idle);
    const other = (await second.ask('y')).split(':')[0];
    assert.notEqual(other, first);
    held.socket.destroy();
    second.socket.destroy();
  });

  test('a connection idle longer than idleTimeoutMs is closed, and one in use is not', async () => {
    const client = await tcpClient(ports.idle);
    const started = Date.now();
    let idleFrom = 0;
    for (let i = 0; i < 4; i++) {
      assert.ok(!client.socket.destroyed, 'kept open while bytes flow every 150 ms');
      await client.ask(`ping${i}`);
      idleFrom = Date.now();
      await sleep(150);
    }
    await Promise.race([client.closed, sleep(3000).then(() => assert.fail('idle connection not closed within 3 s'))]);
    const idle = Date.now() - idleFrom;
    assert.ok(idle >= 250, `closed after ${idle} ms idle (timeout 300 ms)`);
    assert.ok(Date.now() - started > 600);
  });

  test('a draining target takes no new connections while its open one keeps working', async () => {
    const pool = gw.node.upstreams.get('echo-pool')!;
    let held = await tcpClient(ports.echo);
    let name = (await held.ask('before')).split(':')[0]!;
    const target = [a, b, c].find((t) => t.name === name)!;
    assert.ok(pool.setDraining(target.url, true));
    try {
      for (let i = 0; i < 6; i++) assert.notEqual(await whoAnswers(ports.echo), name, 'no new connection to the draining target');
      assert.equal(await held.ask('after'), `${name}:after`, 'the open connection still answers');
    } finally {
      pool.setDraining(target.url, false);
      held.socket.destroy();
    }
  });

  test('bytes in and out are counted per stream, open connections included', async () => {
    const client = await tcpClient(ports.echo);
    const before = String(await gw.metrics.scrape());
    const read = (text: string, name: string) => Number(new RegExp(`${name}\\{stream="echo"\\} (\\d+)`).exec(text)?.[1] ?? NaN);
    await client.ask('0123456789');
    const after = String(await gw.metrics.scrape());
    assert.equal(read(after, 'switchboard_stream_received_bytes_total') - read(before, 'switchboard_stream_received_bytes_total'), 10);
    assert.equal(read(after, 'switchboard_stream_sent_bytes_total') - read(before, 'switchboard_stream_sent_bytes_total'), 12, '"x:" + the ten bytes');
    assert.match(after, /switchboard_stream_active_connections\{stream="echo"\} 1/);
    client.socket.destroy();
  });

  test('a revision that changes only the upstream keeps the listener and its open connection; new connections use the new pool', async () => {
    const open = await tcpClient(ports.echo);
    const first = (await open.ask('one')).split(':')[0];
    const listener = gw.node.streams.get('echo');
    await gw.apply(config({ streams: [{ name: 'echo', port: ports.echo, upstream: 'only-c' }, { name: 'proxied', port: ports.proxied, upstream: 'half-dead', proxyProtocol: true }, { name: 'idle', port: ports.idle, upstream: 'least', idleTimeoutMs: 300 }], upstreams: [{ name: 'only-c', targets: [{ url: c.url }] }] }));
    assert.equal(gw.node.streams.get('echo'), listener, 'same listener');
    assert.equal(await open.ask('two'), `${first}:two`, 'the open connection still reaches its target');
    for (let i = 0; i < 3; i++) assert.equal(await whoAnswers(ports.echo), 'c');
    open.socket.destroy();
    await gw.apply(config());
  });

  test('ip-hash on a stream sends every connection from one client address to one target', async () => {
    await gw.apply(config({ streams: [{ name: 'hashed', port: ports.spare, upstream: 'by-ip' }], upstreams: [{ name: 'by-ip', algorithm: 'ip-hash', targets: [{ url: a.url }, { url: b.url }, { url: c.url }] }] }));
    const answers = new Set<string>();
    for (let i = 0; i < 6; i++) answers.add(await whoAnswers(ports.spare));
    assert.equal(answers.size, 1, [...answers].join(','));
  });

  test('a stream moved to another port is a new listener there; the old port stops accepting', async () => {
    await gw.apply(config({ streams: [{ name: 'hashed', port: ports.echo, upstream: 'echo-pool' }] }));
    assert.match(await whoAnswers(ports.echo), /^[abc]$/);
    await assert.rejects(tcpClient(ports.spare), /ECONNREFUSED/);
    await gw.apply(config());
  });

  test('a new stream from a revision answers within 2 s; a removed one stops accepting while its open connection finishes', async () => {
    const open = await tcpClient(ports.echo);
    await open.ask('hello');
    const started = Date.now();
    await gw.apply(config({ streams: [{ name: 'spare', port: ports.spare, upstream: 'echo-pool' }] }));
    let answered: string | undefined;
    while (answered === undefined && Date.now() - started < 2000) answered = await whoAnswers(ports.spare).catch(() => undefined);
    assert.ok(answered, 'the new stream answered within 2 s');
    await assert.rejects(tcpClient(ports.echo), /ECONNREFUSED/, 'the removed stream no longer accepts');
    assert.match(await open.ask('still there'), /^[abc]:still there$/, 'an open connection of the removed stream finishes');
    open.socket.destroy();
    assert.deepEqual(gw.node.streams.status().map((s) => s.name), ['spare']);
  });

  test('a stream whose port is taken reports the bind error, the node keeps serving, and it binds once the port is free', async () => {
    const squatter = createServer();
    const taken = await freePort();
    await new Promise<void>((resolve) => squatter.listen(taken, '127.0.0.1', resolve));
    await gw.apply(config({ streams: [{ name: 'spare', port: ports.spare, upstream: 'echo-pool' }, { name: 'blocked', port: taken, upstream: 'echo-pool' }] }));
    const blocked = () => gw.node.streams.status().find((s) => s.name === 'blocked')!;
    assert.equal(blocked().listening, false);
    assert.match(blocked().lastError!.message, /cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    assert.match(String(await gw.metrics.scrape()), /switchboard_stream_listening\{stream="blocked"\} 0/);
    assert.match(await whoAnswers(ports.spare), /^[abc]$/, 'the other stream is untouched');
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    await waitFor(() => blocked().listening, 5000, 'the stream binds after the port is freed');
    assert.match(await whoAnswers(taken), /^[abc]$/);
  });
});
