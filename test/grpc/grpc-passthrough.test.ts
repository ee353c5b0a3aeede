import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startEdgeNode, type EdgeNode } from '../edge/edge-node.js';
import { caughtUp } from '../plugins/fixtures.js';
import { freePort } from '../streams/echo-pool.js';

const PROTO = fileURLToPath(new URL('../../../test/grpc/echo.proto', import.meta.url));

type Unary = (req: { text: string }, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: { text: string }) => void) => grpc.ClientUnaryCall;
interface EchoClient extends grpc.Client {
  Say: Unary;
  Count(req: { upTo: number }, md: grpc.Metadata): grpc.ClientReadableStream<{ text: string }>;
}

function loadPackage() {
  const definition = protoLoader.loadSync(PROTO, { keepCase: true, defaults: true });
  return grpc.loadPackageDefinition(definition) as unknown as {
    switchboard: { test: Record<'Echo' | 'Dead' | 'Slow' | 'Limited', grpc.ServiceClientConstructor> };
  };
}

/** A real @grpc/grpc-js server: Say echoes (and fails on "fail"), Count streams, metadata goes both ways. */
async function startGrpcServer(): Promise<{ server: grpc.Server; url: string }> {
  const pkg = loadPackage();
  const server = new grpc.Server();
  server.addService(pkg.switchboard.test.Echo.service, {
    Say(call: grpc.ServerUnaryCall<{ text: string }, { text: string }>, callback: grpc.sendUnaryData<{ text: string }>) {
      const header = new grpc.Metadata();
      header.set('x-echo-trace', String(call.metadata.get('x-trace')[0] ?? ''));
      call.sendMetadata(header);
      const trailer = new grpc.Metadata();
      trailer.set('x-served-by', 'grpc-upstream');
      if (call.request.text === 'fail') return callback({ code: grpc.status.NOT_FOUND, details: 'no such text: fail ✓', metadata: trailer }, null);
      callback(null, { text: `echo: ${call.request.text}` }, trailer);
    },
    Count(call: grpc.ServerWritableStream<{ upTo: number }, { text: string }>) {
      for (let i = 1; i <= call.request.upTo; i++) call.write({ text: `n${i}` });
      const trailer = new grpc.Metadata();
      trailer.set('x-counted', String(call.request.upTo));
      call.end(trailer);
    },
  });
  server.addService(pkg.switchboard.test.Slow.service, {
    Say(_call: unknown, callback: grpc.sendUnaryData<{ text: string }>) {
      setTimeout(() => callback(null, { text: 'too late' }), 1500).unref();
    },
  });
  server.addService(pkg.switchboard.test.Limited.service, {
    Say(call: grpc.ServerUnaryCall<{ text: string }, { text: string }>, callback: grpc.sendUnaryData<{ text: string }>) {
      callback(null, { text: `limited: ${call.request.text}` });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, url: `http://127.0.0.1:${port}` };
}

function unary(client: EchoClient, text: string, md = new grpc.Metadata()) {
  return new Promise<{ value?: { text: string }; err?: grpc.ServiceError; headers?: grpc.Metadata; trailers?: grpc.Metadata }>((resolve) => {
    let headers: grpc.Metadata | undefined;
    let trailers: grpc.Metadata | undefined;
    const call = client.Say({ text }, md, (err, value) => {
      // The status event carries the trailers; it fires after the callback on success, so wait a tick.
      setImmediate(() => resolve({ value: value ?? undefined, err: err ?? undefined, headers, trailers: trailers ?? err?.metadata }));
    });
    call.on('metadata', (m) => (headers = m));
    call.on('status', (s) => (trailers = s.metadata));
  });
}

describe('gRPC through Switchboard: a @grpc/grpc-js client, h2c to the gateway, h2c to a @grpc/grpc-js server', () => {
  let upstream: { server: grpc.Server; url: string };
  let gw: EdgeNode;
  let key: string;
  let echo: EchoClient;
  let dead: EchoClient;
  let slow: EchoClient;
  let limited: EchoClient;

  before(async () => {
    upstream = await startGrpcServer();
    const deadPort = await freePort();
    gw = await startEdgeNode(
      {
        upstreams: [
          { name: 'grpc-pool', protocol: 'h2c', targets: [{ url: upstream.url }] },
          { name: 'dead-pool', protocol: 'h2c', targets: [{ url: `http://127.0.0.1:${deadPort}` }] },
        ],
        routes: [
          { name: 'echo', methods: ['POST'], paths: ['/switchboard.test.Echo/*'], upstream: 'grpc-pool', auth: 'api-key' },
          { name: 'dead', methods: ['POST'], paths: ['/switchboard.test.Dead/*'], upstream: 'dead-pool' },
          { name: 'slow', methods: ['POST'], paths: ['/switchboard.test.Slow/*'], upstream: 'grpc-pool', timeoutMs: 300 },
          { name: 'limited', methods: ['POST'], paths: ['/switchboard.test.Limited/*'], upstream: 'grpc-pool', rateLimit: { max: 1, windowMs: 60000, by: 'ip' } },
        ],
        consumers: [{ name: 'acme' }],
      },
      { h2c: true },
    );
    key = (await issueKey(gw.store, 'acme', { actor: 'test' })).key;
    await caughtUp(gw as never);
    const pkg = loadPackage();
    const address = `127.0.0.1:${gw.port}`;
    echo = new pkg.switchboard.test.Echo(address, grpc.credentials.createInsecure()) as unknown as EchoClient;
    dead = new pkg.switchboard.test.Dead(address, grpc.credentials.createInsecure()) as unknown as EchoClient;
    slow = new pkg.switchboard.test.Slow(address, grpc.credentials.createInsecure()) as unknown as EchoClient;
    limited = new pkg.switchboard.test.Limited(address, grpc.credentials.createInsecure()) as unknown as EchoClient;
  });
  after(async () => {
    echo?.close();
    dead?.close();
    slow?.close();
    limited?.close();
    await gw?.close();
    upstream?.server.forceShutdown();
  });

  const keyed = (extra: Record<string, string> = {}) => {
    const md = new grpc.Metadata();
    md.set('x-api-key', key);
    for (const [k, v] of Object.entries(extra)) md.set(k, v);
    return md;
  };

  test('a unary call passes through: the answer, request metadata to the server, its headers and trailers back', async () => {
    const { value, err, headers, trailers } = await unary(echo, 'hello', keyed({ 'x-trace': 'abc123' }));
    assert.equal(err, undefined, err?.message);
    assert.equal(value?.text, 'echo: hello');
    assert.equal(headers?.get('x-echo-trace')[0], 'abc123', 'request metadata reached the server; its response metadata came back');
    assert.equal(trailers?.get('x-served-by')[0], 'grpc-upstream', 'trailing metadata intact');
  });

  test("the server's own error status and message reach the client from its trailers", async () => {
    const { err } = await unary(echo, 'fail', keyed());
    assert.equal(err?.code, grpc.status.NOT_FOUND);
    assert.equal(err?.details, 'no such text: fail ✓');
    assert.equal(err?.metadata.get('x-served-by')[0], 'grpc-upstream');
  });

  test('a server-streaming call delivers every message in order, then the trailers', async () => {
    const call = echo.Count({ upTo: 25 }, keyed());
    const texts: string[] = [];
    const status = await new Promise<grpc.StatusObject>((resolve, reject) => {
      call.on('data', (m: { text: string }) => texts.push(m.text));
      call.on('status', resolve);
      call.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.OK ? undefined : reject(e)));
    });
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(texts, Array.from({ length: 25 }, (_, i) => `n${i + 1}`));
    assert.equal(status.metadata.get('x-counted')[0], '25');
  });

  test('a missing key is UNAUTHENTICATED, as a gRPC status, not a JSON body', async () => {
    const { err } = await unary(echo, 'hello');
    assert.equal(err?.code, grpc.status.UNAUTHENTICATED, err?.message);
    assert.match(err?.details ?? '', /credentials|key/i);
  });

  test('a pool whose target is down gives UNAVAILABLE', async () => {
    const { err } = await unary(dead, 'anyone?');
    assert.equal(err?.code, grpc.status.UNAVAILABLE, err?.message);
    assert.match(err?.details ?? '', /dead-pool/);
  });

  test("a call past the route's timeout is DEADLINE_EXCEEDED", async () => {
    const { err } = await unary(slow, 'wait');
    assert.equal(err?.code, grpc.status.DEADLINE_EXCEEDED, err?.message);
    assert.match(err?.details ?? '', /timeout/);
  });

  test('a call over the rate limit is RESOURCE_EXHAUSTED', async () => {
    const first = await unary(limited, 'one');
    assert.equal(first.value?.text, 'limited: one', first.err?.message);
    const second = await unary(limited, 'two');
    assert.equal(second.err?.code, grpc.status.RESOURCE_EXHAUSTED, second.err?.message);
  });
});
