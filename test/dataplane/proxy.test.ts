import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { startEchoUpstream, unusedPort, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

function config(targets: string[], extra: Record<string, unknown> = {}, upstreamExtra: Record<string, unknown> = {}) {
  return {
    upstreams: [{ name: 'pool', algorithm: 'round-robin', targets: targets.map((url) => ({ url })), ...upstreamExtra }],
    routes: [
      { name: 'api', methods: ['GET', 'POST', 'PUT'], paths: ['/api/*'], upstream: 'pool', stripPrefix: '/api', ...extra },
      { name: 'exact', methods: ['GET'], paths: ['/models/:id'], upstream: 'pool' },
    ],
    consumers: [],
  };
}

describe('proxy over three real upstreams', () => {
  let upstreams: EchoUpstream[];
  let gw: TestGateway;

  before(async () => {
    upstreams = await Promise.all(['a', 'b', 'c'].map((n) => startEchoUpstream(n)));
    gw = await startGateway(config(upstreams.map((u) => u.url)));
  });
  after(async () => {
    await gw.close();
    await Promise.all(upstreams.map((u) => u.close()));
  });

  test('round robin over three upstreams is exactly even', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 300; i++) {
      const res = await request(`${gw.url}/api/x`);
      await res.body.dump();
      const name = res.headers['x-upstream'] as string;
      counts[name] = (counts[name] ?? 0) + 1;
    }
    assert.deepEqual(counts, { a: 100, b: 100, c: 100 });
  });

  test('stripPrefix rewrites the path and keeps the query', async () => {
    const res = await request(`${gw.url}/api/v1/things?x=1&y=2`);
    const echoed = (await res.body.json()) as { url: string };
    assert.equal(echoed.url, '/v1/things?x=1&y=2');
    const bare = (await (await request(`${gw.url}/api/`)).body.json()) as { url: string };
    assert.equal(bare.url, '/');
  });

  test('routes with :params match and forward the path unchanged', async () => {
    const res = await request(`${gw.url}/models/llama-3`);
    assert.equal(res.statusCode, 200);
    assert.equal(((await res.body.json()) as { url: string }).url, '/models/llama-3');
  });

  test('forwarded headers are set, hop-by-hop headers dropped, a client x-request-id kept', async () => {
    const res = await request(`${gw.url}/api/h`, {
      headers: { 'x-request-id': 'client-chosen-id', 'x-forwarded-for': '203.0.113.9', te: 'trailers', 'x-custom': 'kept', 'proxy-authorization': 'Basic Zm9vOmJhcg==' },
    });
    const echoed = (await res.body.json()) as { headers: Record<string, string> };
    assert.equal(res.headers['x-request-id'], 'client-chosen-id');
    assert.equal(echoed.headers['x-request-id'], 'client-chosen-id');
    assert.equal(echoed.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(echoed.headers['x-forwarded-proto'], 'http');
    assert.equal(echoed.headers['x-forwarded-host'], new URL(gw.url).host);
    assert.equal(echoed.headers['x-custom'], 'kept');
    assert.equal(echoed.headers['te'], undefined);
    assert.equal(echoed.headers['proxy-authorization'], undefined);
  });

  test('a generated x-request-id reaches both the upstream and the client', async () => {
    const res = await request(`${gw.url}/api/id`);
    const echoed = (await res.body.json()) as { headers: Record<string, string> };
    assert.ok(res.headers['x-request-id']);
    assert.equal(echoed.headers['x-request-id'], res.headers['x-request-id']);
  });

  test('POST bodies arrive intact, byte for byte, streamed or not', async () => {
    const body = randomBytes(1024 * 1024).toString('base64');
    const res = await request(`${gw.url}/api/upload`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    const echoed = (await res.body.json()) as { body: string; method: string };
    assert.equal(echoed.method, 'POST');
    assert.equal(echoed.body.length, body.length);
    assert.equal(echoed.body, body);
    // Chunked (no content-length) too.
    const chunks = async function* () {
      yield Buffer.from('hello ');
      yield Buffer.from('chunked world');
    };
    const res2 = await request(`${gw.url}/api/upload`, { method: 'PUT', body: Readable.from(chunks()) });
    assert.equal(((await res2.body.json()) as { body: string }).body, 'hello chunked world');
  });

  test('unknown path → 404 problem+json', async () => {
    const res = await request(`${gw.url}/nowhere`);
    assert.equal(res.statusCode, 404);
    assert.match(res.headers['content-type'] as string, /^application\/problem\+json/);
    const p = (await res.body.json()) as { status: number; title: string; detail: string };
    assert.equal(p.status, 404);
    assert.match(p.detail, /\/nowhere/);
    assert.ok(res.headers['x-request-id']);
  });

  test('a method the route does not take → 404 problem+json, not a crash', async () => {
    const res = await request(`${gw.url}/models/x`, { method: 'DELETE' });
    assert.equal(res.statusCode, 404);
    assert.match(res.headers['content-type'] as string, /^application\/problem\+json/);
    await res.body.dump();
  });
});

describe('errors the gateway makes', () => {
  let upstream: EchoUpstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startEchoUpstream('slow');
    upstream.handler = (req, res) => {
      if (req.url?.startsWith('/slow')) {
        const t = setTimeout(() => res.end('late'), 2000);
        res.on('close', () => clearTimeout(t));
        return true;
      }
      return false;
    };
    gw = await startGateway(config([upstream.url], { timeoutMs: 300, bodyLimit: 1024 }));
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  test('body over the route limit → 413 problem+json, and the gateway answers normally afterwards', async () => {
    const res = await request(`${gw.url}/api/x`, { method: 'POST', body: Buffer.alloc(4096, 97) });
    assert.equal(res.statusCode, 413);
    assert.match(res.headers['content-type'] as string, /^application\/problem\+json/);
    await res.body.dump();
    const ok = await request(`${gw.url}/api/x`, { method: 'POST', body: 'small' });
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
  });

  test('a chunked body over the limit → 413 too, though it has no content-length to check', async () => {
    const chunks = async function* () {
      for (let i = 0; i < 8; i++) yield Buffer.alloc(512, 98);
    };
    const res = await request(`${gw.url}/api/x`, { method: 'POST', body: Readable.from(chunks()) });
    assert.equal(res.statusCode, 413);
    await res.body.dump();
    const small = await request(`${gw.url}/api/x`, { method: 'PUT', body: Readable.from((async function* () { yield Buffer.from('fits'); })()) });
    assert.equal(small.statusCode, 200);
    assert.equal(((await small.body.json()) as { body: string }).body, 'fits');
  });

  test('slow upstream → 504 problem+json within the route timeout', async () => {
    const started = Date.now();
    const res = await request(`${gw.url}/api/slow`);
    assert.equal(res.statusCode, 504);
    const p = (await res.body.json()) as { status: number };
    assert.equal(p.status, 504);
    assert.ok(Date.now() - started < 1900, 'answered before the upstream would have');
  });
});

describe('unreachable targets', () => {
  test('a dead target (connection refused) costs the client nothing when another is up', async () => {
    const live = await startEchoUpstream('live');
    const dead = `http://127.0.0.1:${await unusedPort()}`;
    const gw = await startGateway(config([dead, live.url]));
    try {
      for (let i = 0; i < 40; i++) {
        const res = await request(`${gw.url}/api/x`, { method: i % 2 ? 'POST' : 'GET', body: i % 2 ? 'payload' : undefined });
        assert.equal(res.statusCode, 200, `request ${i}`);
        await res.body.dump();
      }
      assert.equal(live.received.length, 40);
    } finally {
      await gw.close();
      await live.close();
    }
  });

  test('no target reachable → 502 problem+json', async () => {
    const gw = await startGateway(config([`http://127.0.0.1:${await unusedPort()}`, `http://127.0.0.1:${await unusedPort()}`]));
    try {
      const res = await request(`${gw.url}/api/x`);
      assert.equal(res.statusCode, 502);
      assert.match(res.headers['content-type'] as string, /^application\/problem\+json/);
      const p = (await res.body.json()) as { detail: string };
      assert.match(p.detail, /ECONNREFUSED/);
    } finally {
      await gw.close();
    }
  });
});
