import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call, caughtUp } from '../plugins/fixtures.js';

const chat = (model: string, extra: Record<string, unknown> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, ...extra }),
});

describe('model routing: routes on one path told apart by model, headers, extension and priority', () => {
  let large: GpuWorker;
  let small: GpuWorker;
  let images: EchoUpstream;
  let other: EchoUpstream;
  let gw: TestGateway;

  before(async () => {
    large = await startGpuWorker({ name: 'gpu-large', model: 'llama-70b', prefillMs: 1, tokenMs: 1 });
    small = await startGpuWorker({ name: 'gpu-small', model: 'llama-8b', prefillMs: 1, tokenMs: 1 });
    images = await startEchoUpstream('images');
    other = await startEchoUpstream('other');
    gw = await startGateway({
      upstreams: [
        { name: 'large', targets: [{ url: large.url }] },
        { name: 'small', targets: [{ url: small.url }] },
        { name: 'images', targets: [{ url: images.url }] },
        { name: 'other', targets: [{ url: other.url }] },
      ],
      routes: [
        { name: 'chat-large', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'large', match: { body: { model: ['llama-70b', 'big'] } } },
        { name: 'chat-small', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'small', match: { body: { model: ['llama-8b'] } }, errorFormat: 'openai' },
        { name: 'png', methods: ['GET'], paths: ['/media/*.png'], upstream: 'images' },
        { name: 'media', methods: ['GET'], paths: ['/media/*'], upstream: 'other' },
        { name: 'beta', methods: ['GET', 'POST'], paths: ['/api/*'], upstream: 'images', match: { headers: { 'X-Channel': ['beta', 'canary'] } } },
        { name: 'by-query', methods: ['GET'], paths: ['/api/*'], upstream: 'images', match: { query: { v: '2' } } },
        { name: 'api', methods: ['GET', 'POST'], paths: ['/api/*'], upstream: 'other' },
        { name: 'first', methods: ['GET'], paths: ['/prio'], upstream: 'other', match: { headers: { 'x-a': '1' } }, priority: 1 },
        { name: 'second', methods: ['GET'], paths: ['/prio'], upstream: 'images', match: { headers: { 'x-a': '1' } }, priority: 5 },
      ],
    });
  });

  after(async () => {
    await gw?.close();
    await Promise.all([large?.close(), small?.close(), images?.close(), other?.close()]);
  });

  it('sends two models on /v1/chat/completions to two different pools', async () => {
    const a = await call(`${gw.url}/v1/chat/completions`, chat('llama-70b'));
    assert.equal(a.status, 200, a.text);
    assert.equal(a.headers.get('x-worker'), 'gpu-large');
    const b = await call(`${gw.url}/v1/chat/completions`, chat('llama-8b'));
    assert.equal(b.status, 200, b.text);
    assert.equal(b.headers.get('x-worker'), 'gpu-small');
    const alias = await call(`${gw.url}/v1/chat/completions`, chat('big'));
    assert.equal(alias.headers.get('x-worker'), 'gpu-large');
  });

  it('forwards the body bytes it read to match the model exactly as received', async () => {
    // Odd spacing and key order would not survive a parse-and-serialize round trip.
    const raw = '{ "messages":[{"role":"user","content":"hi"}],   "model" :"llama-8b","max_tokens":1 }';
    const before = small.stats().requests;
    const res = await call(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
    assert.equal(res.status, 200, res.text);
    assert.equal(small.stats().requests, before + 1);
  });

  it('answers a model no route serves with 404 naming the model, in the route format', async () => {
    const res = await call(`${gw.url}/v1/chat/completions`, chat('gpt-9'));
    assert.equal(res.status, 404);
    // The group's error format is its first route that sets one (chat-small: openai).
    assert.match(res.body.error.message, /gpt-9/);
    assert.equal(res.body.error.code, 'model_not_found');
    assert.equal(res.body.error.param, 'model');
    assert.ok(res.headers.get('x-request-id'));
  });

  it('refuses a body that is not JSON on a route that matches on the body with 400 naming it', async () => {
    const text = await call(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'model=llama-8b' });
    assert.equal(text.status, 400);
    assert.match(text.body.error.message, /chat-(large|small).*text\/plain.*not JSON/);
    const broken = await call(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": "llama-8b",' });
    assert.equal(broken.status, 400);
    assert.match(broken.body.error.message, /not valid JSON/);
  });

  it('refuses a body above every matching route limit with 413 before reading all of it', async () => {
    const res = await call(`${gw.url}/v1/chat/completions`, chat('llama-8b', { pad: 'x'.repeat(11 * 1024 * 1024) }));
    assert.equal(res.status, 413);
  });

  it('routes by file extension, and the rest of the prefix to the plain wildcard', async () => {
    const png = await call(`${gw.url}/media/cats/tabby.PNG`);
    assert.equal(png.headers.get('x-upstream'), 'images');
    const jpg = await call(`${gw.url}/media/cats/tabby.jpg`);
    assert.equal(jpg.headers.get('x-upstream'), 'other');
    const query = await call(`${gw.url}/media/a.png?size=2`);
    assert.equal(query.headers.get('x-upstream'), 'images');
  });

  it('routes by header (any of a list, name in any case) and by query, else to the catch-all', async () => {
    assert.equal((await call(`${gw.url}/api/x`, { headers: { 'x-channel': 'canary' } })).headers.get('x-upstream'), 'images');
    assert.equal((await call(`${gw.url}/api/x`, { headers: { 'x-channel': 'stable' } })).headers.get('x-upstream'), 'other');
    assert.equal((await call(`${gw.url}/api/x?v=2`)).headers.get('x-upstream'), 'images');
    assert.equal((await call(`${gw.url}/api/x?v=3`)).headers.get('x-upstream'), 'other');
    assert.equal((await call(`${gw.url}/api/x`)).headers.get('x-upstream'), 'other');
  });

  it('tries the higher priority first among routes that both match', async () => {
    assert.equal((await call(`${gw.url}/prio`, { headers: { 'x-a': '1' } })).headers.get('x-upstream'), 'images');
    const none = await call(`${gw.url}/prio`);
    assert.equal(none.status, 404);
    assert.equal(none.headers.get('content-type'), 'application/problem+json');
    assert.match(none.body.detail, /no route matches GET \/prio/);
  });
});

describe('GET /v1/models answered by the gateway', () => {
  let gw: TestGateway;
  let upstream: EchoUpstream;
  let acmeKey: string;
  let globexKey: string;

  before(async () => {
    upstream = await startEchoUpstream('models');
    gw = await startGateway({
      upstreams: [{ name: 'u', targets: [{ url: upstream.url }] }],
      routes: [
        { name: 'open-chat', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'u', match: { body: { model: ['tiny'] } } },
        { name: 'keyed-chat', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'u', auth: 'api-key', errorFormat: 'openai', match: { body: { model: ['large', 'large-alias'] } } },
        { name: 'keyed-embed', methods: ['POST'], paths: ['/v1/embeddings'], upstream: 'u', auth: 'api-key', match: { body: { model: ['embed-3'] } } },
      ],
      consumers: [{ name: 'acme' }, { name: 'globex', routes: ['keyed-embed'] }],
    });
    acmeKey = (await issueKey(gw.store, 'acme', { actor: 'test' })).key;
    globexKey = (await issueKey(gw.store, 'globex', { actor: 'test' })).key;
    await caughtUp(gw);
  });

  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const ids = (body: { object: string; data: Array<{ id: string; object: string }> }) => {
    assert.equal(body.object, 'list');
    for (const m of body.data) assert.equal(m.object, 'model');
    return body.data.map((m) => m.id).sort();
  };

  it('lists exactly the models of the routes the caller may use', async () => {
    const anonymous = await call(`${gw.url}/v1/models`);
    assert.equal(anonymous.status, 200, anonymous.text);
    assert.deepEqual(ids(anonymous.body), ['tiny']);
    const acme = await call(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${acmeKey}` } });
    assert.deepEqual(ids(acme.body), ['embed-3', 'large', 'large-alias', 'tiny']);
    const globex = await call(`${gw.url}/v1/models`, { headers: { 'x-api-key': globexKey } });
    assert.deepEqual(ids(globex.body), ['embed-3', 'tiny']);
    assert.equal(upstream.received.length, 0);
  });

  it('refuses a key that does not verify with 401 in the OpenAI shape', async () => {
    const res = await call(`${gw.url}/v1/models`, { headers: { authorization: 'Bearer sb_live_wrong' } });
    assert.equal(res.status, 401);
    assert.equal(res.body.error.type, 'authentication_error');
  });
});
