import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { admitted, addressList } from '../../plugins/ip-restriction/index.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { call } from './fixtures.js';

let upstream: EchoUpstream;
let gw: TestGateway;

const chatSchema = {
  type: 'object',
  required: ['model', 'messages'],
  additionalProperties: false,
  properties: {
    model: { type: 'string', minLength: 1 },
    messages: { type: 'array', minItems: 1, items: { type: 'object', required: ['role', 'content'], properties: { role: { enum: ['system', 'user', 'assistant'] }, content: { type: 'string' } } } },
    max_tokens: { type: 'integer', minimum: 1 },
    temperature: { type: 'number', maximum: 2 },
    stream: { type: 'boolean' },
  },
};

before(async () => {
  upstream = await startEchoUpstream('echo');
  gw = await startGateway({
    upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }],
    routes: [
      {
        name: 'chat',
        methods: ['POST'],
        paths: ['/v1/chat/completions'],
        upstream: 'echo',
        schema: { body: chatSchema, querystring: { type: 'object', properties: { version: { type: 'integer' } } }, headers: { type: 'object', required: ['x-tenant'], properties: { 'x-tenant': { type: 'string', pattern: '^[a-z]+$' } } } },
        cors: { origins: ['https://app.example.com'], credentials: true },
      },
      { name: 'raw', methods: ['POST'], paths: ['/raw'], upstream: 'echo' },
      { name: 'lan-only', methods: ['GET'], paths: ['/lan'], upstream: 'echo', ipRestriction: { allow: ['10.0.0.0/8', 'fd00::/8'] } },
      { name: 'local-ok', methods: ['GET'], paths: ['/local'], upstream: 'echo', ipRestriction: { allow: ['127.0.0.1', '::1/128'] } },
      { name: 'denied', methods: ['GET'], paths: ['/denied'], upstream: 'echo', ipRestriction: { allow: ['127.0.0.0/8'], deny: ['127.0.0.1/32'] } },
      { name: 'keyed', methods: ['GET'], paths: ['/keyed'], upstream: 'echo', auth: 'api-key', cors: { origins: ['*'] } },
      { name: 'cors-get', methods: ['GET'], paths: ['/both'], upstream: 'echo', cors: { origins: ['*'] } },
      { name: 'cors-post', methods: ['POST'], paths: ['/both'], upstream: 'echo', cors: { origins: ['*'] } },
    ],
    consumers: [],
  });
});
after(async () => {
  await gw.close();
  await upstream.close();
});

const good = { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 };

function post(path: string, body: string, headers: Record<string, string> = {}) {
  return call(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-tenant': 'acme', ...headers }, body });
}

/** Send a body of `size` bytes with its content-length; resolve with the status. */
function bigPost(path: string, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = new URL(`${gw.url}${path}`);
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': size, 'x-tenant': 'acme' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'EPIPE' || (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? undefined : reject(err)));
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const write = () => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return req.once('drain', write);
      }
      req.end();
    };
    write();
  });
}

describe('request validation', () => {
  test('a valid body goes upstream byte for byte', async () => {
    const body = JSON.stringify(good);
    const a = await post('/v1/chat/completions?version=2', body);
    assert.equal(a.status, 200, a.text);
    assert.equal(a.body.body, body);
  });

  test('a 400 names every bad body field', async () => {
    const a = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'robot' }], max_tokens: 0, temperature: 'hot', extra: 1 }));
    assert.equal(a.status, 400);
    assert.match(a.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const paths = (a.body.errors as Array<{ path: string; message: string }>).map((e) => e.path);
    for (const field of ['/body/model', '/body/messages/0/role', '/body/messages/0/content', '/body/max_tokens', '/body/temperature', '/body/extra'])
      assert.ok(paths.includes(field), `${field} named in ${JSON.stringify(paths)}`);
    for (const e of a.body.errors) assert.ok(e.message.length > 0);
  });

  test('body types are not coerced: the upstream gets the raw bytes, so "8" is not an integer', async () => {
    const a = await post('/v1/chat/completions', JSON.stringify({ ...good, max_tokens: '8', stream: 'true' }));
    assert.equal(a.status, 400);
    const paths = a.body.errors.map((e: { path: string }) => e.path);
    assert.ok(paths.includes('/body/max_tokens') && paths.includes('/body/stream'), JSON.stringify(paths));
  });

  test('bad querystring and headers are named too', async () => {
    const q = await post('/v1/chat/completions?version=two', JSON.stringify(good));
    assert.equal(q.status, 400);
    assert.ok(q.body.errors.some((e: { path: string }) => e.path === '/querystring/version'), JSON.stringify(q.body.errors));
    const h = await post('/v1/chat/completions', JSON.stringify(good), { 'x-tenant': 'NOT OK' });
    assert.equal(h.status, 400);
    assert.ok(h.body.errors.some((e: { path: string }) => e.path.startsWith('/headers/x-tenant')), JSON.stringify(h.body.errors));
  });

  test('malformed JSON is a 400, and nothing reaches the upstream', async () => {
    const before = upstream.received.length;
    const a = await post('/v1/chat/completions', '{"model": "m", "messages": [');
    assert.equal(a.status, 400);
    assert.equal(a.body.type, 'urn:switchboard:problem:malformed-json');
    assert.equal(upstream.received.length, before);
  });

  test('a 12 MiB body is refused with 413 on validated and streamed routes, and the gateway answers normally afterwards', async () => {
    assert.equal(await bigPost('/v1/chat/completions', 12 * 1024 * 1024), 413);
    assert.equal(await bigPost('/raw', 12 * 1024 * 1024), 413);
    const a = await post('/v1/chat/completions', JSON.stringify(good));
    assert.equal(a.status, 200);
    const raw = await post('/raw', 'anything');
    assert.equal(raw.status, 200);
  });
});

describe('IP restriction', () => {
  test('allow lists admit only their blocks, deny wins over allow; refusals are 403 problem+json', async () => {
    const lan = await call(`${gw.url}/lan`);
    assert.equal(lan.status, 403);
    assert.equal(lan.body.type, 'urn:switchboard:problem:ip-denied');
    assert.equal((await call(`${gw.url}/local`)).status, 200);
    assert.equal((await call(`${gw.url}/denied`)).status, 403);
  });

  test('CIDR matching covers IPv4 and IPv6', () => {
    const rules = { allow: addressList(['10.0.0.0/8', '2001:db8::/32', '192.168.1.7'], 'allow'), deny: addressList(['10.1.0.0/16', '2001:db8:dead::/48'], 'deny') };
    assert.equal(admitted(rules, '10.2.3.4'), true);
    assert.equal(admitted(rules, '10.1.3.4'), false);
    assert.equal(admitted(rules, '11.0.0.1'), false);
    assert.equal(admitted(rules, '192.168.1.7'), true);
    assert.equal(admitted(rules, '192.168.1.8'), false);
    assert.equal(admitted(rules, '2001:db8::1'), true);
    assert.equal(admitted(rules, '2001:db8:dead::1'), false);
    assert.equal(admitted(rules, '2001:db9::1'), false);
    assert.throws(() => addressList(['10.0.0.0/33'], 'allow'), /invalid prefix/);
    assert.throws(() => addressList(['not-an-ip'], 'allow'), /not an IP/);
  });
});

describe('CORS', () => {
  test('the gateway answers a preflight for a POST-only route, for allowed origins only', async () => {
    const ok = await call(`${gw.url}/v1/chat/completions`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-tenant' },
    });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
    assert.match(ok.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(ok.headers.get('access-control-allow-headers'), 'content-type, x-tenant');
    assert.ok(ok.headers.get('access-control-max-age'));
    const evil = await call(`${gw.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(evil.status, 204);
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
  });

  test('two CORS routes on one path share one preflight that allows both routes\' methods', async () => {
    const a = await call(`${gw.url}/both`, { method: 'OPTIONS', headers: { origin: 'https://x.example', 'access-control-request-method': 'POST' } });
    assert.equal(a.status, 204);
    assert.deepEqual((a.headers.get('access-control-allow-methods') ?? '').split(', ').sort(), ['GET', 'POST']);
  });

  test('actual responses carry CORS headers, even a 401, so the browser can show it', async () => {
    const a = await post('/v1/chat/completions', JSON.stringify(good), { origin: 'https://app.example.com' });
    assert.equal(a.status, 200);
    assert.equal(a.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(a.headers.get('vary') ?? '', /Origin/);
    assert.match(a.headers.get('access-control-expose-headers') ?? '', /ratelimit-remaining/);
    const preflight = await call(`${gw.url}/keyed`, { method: 'OPTIONS', headers: { origin: 'https://x.example', 'access-control-request-method': 'GET' } });
    assert.equal(preflight.status, 204, 'preflight needs no credentials');
    assert.equal(preflight.headers.get('access-control-allow-origin'), '*');
    const denied = await call(`${gw.url}/keyed`, { headers: { origin: 'https://x.example' } });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('access-control-allow-origin'), '*');
  });
});
