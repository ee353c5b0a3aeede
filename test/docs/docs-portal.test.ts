import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import { SignJWT } from 'jose';
import { issueKey, revokeKey } from '../../gateway/src/keys/key-service.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';

const JWT_SECRET = 'a-shared-hmac-secret-for-tests-only';

/** A partner-facing configuration with every kind of route the document must handle. */
function config(upstreamUrl: string, extraRoutes: unknown[] = []) {
  return {
    upstreams: [{ name: 'pool', algorithm: 'round-robin', targets: [{ url: upstreamUrl }] }],
    routes: [
      {
        name: 'chat',
        methods: ['POST'],
        paths: ['/v1/chat/completions'],
        upstream: 'pool',
        auth: 'api-key-or-jwt',
        rateLimit: { max: 100, windowMs: 60_000 },
        schema: {
          body: {
            type: 'object',
            required: ['model', 'messages'],
            properties: { model: { type: 'string' }, messages: { type: 'array', items: { $ref: '#/definitions/message' } } },
            definitions: { message: { type: 'object', required: ['role', 'content'], properties: { role: { enum: ['user', 'system', 'assistant'] }, content: { type: 'string' } } } },
          },
        },
        docs: { summary: 'Chat completion', description: 'OpenAI-compatible chat.', tags: ['inference'] },
      },
      { name: 'model', methods: ['GET'], paths: ['/v1/models/:id(^[a-z0-9-]+$)'], upstream: 'pool', auth: 'none', docs: { summary: 'One model', tags: ['catalog'] } },
      { name: 'files', methods: ['GET', 'DELETE'], paths: ['/files/*'], upstream: 'pool', auth: 'api-key' },
      {
        name: 'search',
        methods: ['GET'],
        paths: ['/search'],
        upstream: 'pool',
        auth: 'jwt',
        schema: {
          querystring: { type: 'object', required: ['q'], properties: { q: { type: 'string', description: 'What to look for.' }, limit: { type: 'integer', maximum: 50 } } },
          headers: { type: 'object', properties: { 'x-tenant': { type: 'string' }, 'content-type': { type: 'string' } } },
        },
      },
      { name: 'reports', methods: ['GET'], paths: ['/reports'], upstream: 'pool', auth: 'jwt', jwtAudience: 'reports' },
      { name: 'internal', methods: ['POST'], paths: ['/internal/reindex'], upstream: 'pool', auth: 'api-key', docs: { public: false } },
      { name: 'retired', methods: ['GET'], paths: ['/v0/old'], upstream: 'pool', enabled: false },
      ...extraRoutes,
    ],
    consumers: [
      { name: 'acme', routes: ['chat', 'internal'], rateLimit: { max: 1000, windowMs: 60_000 }, quota: { max: 50_000, period: 'day' } },
      { name: 'globex' },
      { name: 'signer', jwt: [{ issuer: 'signer-iss', algorithm: 'HS256', secret: JWT_SECRET }] },
    ],
  };
}

let upstream: EchoUpstream;
let gw: TestGateway;
let acmeKey: string;
let globexKey: string;

before(async () => {
  upstream = await startEchoUpstream('docs');
  gw = await startGateway(config(upstream.url));
  acmeKey = (await issueKey(gw.store, 'acme', { actor: 'test' })).key;
  globexKey = (await issueKey(gw.store, 'globex', { actor: 'test' })).key;
  await waitFor(async () => ((await fetch(`${gw.url}/healthz`).then((r) => r.json())) as { revision: number }).revision === (await gw.store.read()).revision, 5000, 'keys in force');
});

after(async () => {
  await gw.close();
  await upstream.close();
});

async function documentFor(headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const response = await fetch(`${gw.url}/docs/openapi.json`, { headers });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/** Operation → route name, for every operation in the document. */
function routesIn(doc: any): Set<string> {
  const names = new Set<string>();
  for (const item of Object.values<any>(doc.paths)) for (const op of Object.values<any>(item)) if (op && typeof op === 'object' && op['x-switchboard-route']) names.add(op['x-switchboard-route']);
  return names;
}

test('the public document passes swagger-parser validation as OpenAPI 3.1', async () => {
  const { status, body } = await documentFor();
  assert.equal(status, 200);
  assert.equal(body.openapi, '3.1.0');
  await SwaggerParser.validate(structuredClone(body));
});

test('the public document lists enabled public routes only, never docs.public:false or disabled ones', async () => {
  const { body } = await documentFor();
  assert.deepEqual([...routesIn(body)].sort(), ['chat', 'files', 'model', 'reports', 'search']);
  assert.equal(body.paths['/internal/reindex'], undefined);
  assert.equal(body.paths['/v0/old'], undefined);
  assert.doesNotMatch(JSON.stringify(body), /internal|reindex|retired/);
});

test('paths, parameters, schemas, docs and security come from the routes', async () => {
  const { body } = await documentFor();
  const chat = body.paths['/v1/chat/completions'].post;
  assert.equal(chat.summary, 'Chat completion');
  assert.match(chat.description, /OpenAI-compatible chat/);
  assert.match(chat.description, /100 requests per minute/);
  assert.deepEqual(chat.tags, ['inference']);
  assert.deepEqual(chat.security, [{ apiKey: [] }, { bearerKey: [] }, { jwt: [] }]);
  assert.equal(chat.requestBody.required, true);
  // The body schema's own $ref still resolves once it lives inside the document.
  const deref: any = await SwaggerParser.dereference(structuredClone(body));
  const message = deref.paths['/v1/chat/completions'].post.requestBody.content['application/json'].schema.properties.messages.items;
  assert.deepEqual(message.required, ['role', 'content']);

  const model = body.paths['/v1/models/{id}'].get;
  assert.deepEqual(model.security, [], 'auth none needs nothing');
  assert.deepEqual(model.parameters, [{ name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9-]+$' } }]);

  const files = body.paths['/files/{path}'];
  assert.ok(files.get && files.delete, 'both methods documented');
  assert.equal(files['x-switchboard-path'], '/files/*');
  assert.match(files.get.parameters[0].description, /rest of the path/);
  assert.deepEqual(files.get.security, [{ apiKey: [] }, { bearerKey: [] }]);

  const search = body.paths['/search'].get;
  assert.deepEqual(search.security, [{ jwt: [] }]);
  const byName = Object.fromEntries(search.parameters.map((p: any) => [`${p.in}:${p.name}`, p]));
  assert.equal(byName['query:q'].required, true);
  assert.equal(byName['query:q'].description, 'What to look for.');
  assert.ok(byName['query:limit'] && !byName['query:limit'].required);
  assert.ok(byName['header:x-tenant']);
  assert.equal(byName['header:content-type'], undefined, 'OpenAPI ignores a content-type header parameter');

  assert.deepEqual(Object.keys(body.components.securitySchemes).sort(), ['apiKey', 'bearerKey', 'jwt', 'mtls']);
  assert.deepEqual(body.components.securitySchemes.apiKey, { type: 'apiKey', in: 'header', name: 'x-api-key', description: body.components.securitySchemes.apiKey.description });
  assert.deepEqual(body.tags.map((t: any) => t.name), ['catalog', 'inference']);
});

test('servers point at the public listener the request came in on', async () => {
  const { body } = await documentFor();
  assert.deepEqual(body.servers.map((s: any) => s.url), [gw.url]);
  // A Host that is not a host name is never echoed: the server URL becomes relative.
  const odd = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(`${gw.url}/docs/openapi.json`, { headers: { host: 'evil_example:1' } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end();
  });
  // The node may refuse such a Host outright (400); if it answers, it must not echo it.
  if (odd.status !== 400) {
    assert.equal(odd.status, 200);
    assert.deepEqual(JSON.parse(odd.body).servers.map((s: any) => s.url), ['/']);
  }
  assert.doesNotMatch(odd.body, /evil/);
});

test("a partner's key gets only the routes that key may call, with its own limits", async () => {
  const acme = await documentFor({ 'x-api-key': acmeKey });
  assert.equal(acme.status, 200);
  // chat (listed), internal (hidden from the public but granted by name), model (auth none);
  // not files (not in acme's routes) nor search (JWT only).
  assert.deepEqual([...routesIn(acme.body)].sort(), ['chat', 'internal', 'model']);
  assert.deepEqual(acme.body['x-switchboard-limits'], { consumer: 'acme', rateLimit: { max: 1000, windowMs: 60_000 }, quota: { max: 50_000, period: 'day' } });
  assert.match(acme.body.info.description, /1000 requests per minute across all routes/);
  assert.match(acme.body.info.description, /50000 requests per UTC day/);
  assert.equal(acme.headers.get('cache-control'), 'private, no-store');
  await SwaggerParser.validate(structuredClone(acme.body));

  // Bearer works like x-api-key; a consumer without `routes` may call every credentialed public route.
  const globex = await documentFor({ authorization: `Bearer ${globexKey}` });
  assert.equal(globex.status, 200);
  assert.deepEqual([...routesIn(globex.body)].sort(), ['chat', 'files', 'model']);
  assert.match(globex.body.info.description, /none beyond each route/);
});

test("a JWT gets the routes that accept a JWT, and those wanting an audience only with that `aud`", async () => {
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ iss: 'signer-iss', sub: 'docs', ...claims }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(JWT_SECRET));
  const signer = await documentFor({ authorization: `Bearer ${await sign({})}` });
  assert.equal(signer.status, 200);
  assert.deepEqual([...routesIn(signer.body)].sort(), ['chat', 'model', 'search']);
  assert.equal(signer.body['x-switchboard-limits'].consumer, 'signer');
  const withAudience = await documentFor({ authorization: `Bearer ${await sign({ aud: ['reports', 'other'] })}` });
  assert.deepEqual([...routesIn(withAudience.body)].sort(), ['chat', 'model', 'reports', 'search']);
  const expired = await new SignJWT({ iss: 'signer-iss' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(Math.floor(Date.now() / 1000) - 3600).sign(new TextEncoder().encode(JWT_SECRET));
  assert.equal((await documentFor({ authorization: `Bearer ${expired}` })).status, 401);
});

test('a bad, revoked or malformed credential gets the same 401 problem, naming no route', async () => {
  const revoked = await issueKey(gw.store, 'globex', { actor: 'test' });
  await waitFor(async () => (await documentFor({ 'x-api-key': revoked.key })).status === 200, 5000, 'new key in force');
  await revokeKey(gw.store, 'globex', revoked.id, { actor: 'test' });
  await waitFor(async () => (await documentFor({ 'x-api-key': revoked.key })).status === 401, 5000, 'revocation in force');

  const forged = `${acmeKey.slice(0, -4)}AAAA`;
  for (const headers of [{ 'x-api-key': forged }, { 'x-api-key': revoked.key }, { authorization: 'Bearer nonsense.jwt.here' }, { authorization: 'Basic dXNlcjpwYXNz' }]) {
    const response = await fetch(`${gw.url}/docs/openapi.json`, { headers });
    assert.equal(response.status, 401, JSON.stringify(headers));
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    const text = await response.text();
    assert.deepEqual(JSON.parse(text).type, 'urn:switchboard:problem:unauthorized');
    assert.doesNotMatch(text, /chat|files|search|internal|acme/);
  }
  const ui = await fetch(`${gw.url}/docs/json`, { headers: { 'x-api-key': forged } });
  assert.equal(ui.status, 401, "swagger-ui's own document route checks credentials too");
  await ui.text();
});

test('/docs answers HTML whose swagger-ui assets all answer, over the same document', async () => {
  const page = await fetch(`${gw.url}/docs`, { redirect: 'follow' });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self';/, 'the page runs only scripts this gateway serves');
  const html = await page.text();
  const base = new URL(page.url.endsWith('/') ? page.url : `${page.url}/`);
  const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => new URL(m[1]!, base));
  assert.ok(assets.some((u) => u.pathname.endsWith('swagger-ui-bundle.js')), html);
  assert.ok(assets.some((u) => u.pathname.endsWith('swagger-initializer.js')));
  for (const asset of assets) {
    const response = await fetch(asset);
    assert.equal(response.status, 200, asset.pathname);
    assert.ok((await response.arrayBuffer()).byteLength > 0, asset.pathname);
  }
  // The initializer points swagger-ui at ./json, which serves the same document.
  const init = await (await fetch(new URL('static/swagger-initializer.js', base))).text();
  assert.match(init, /resolveUrl\('\.\/json'\)/);
  const viaUi = await (await fetch(new URL('json', base))).json();
  const { body } = await documentFor();
  assert.deepEqual(viaUi, body);
});

test('a revision change is in /docs/openapi.json within 2 s', async () => {
  const { body: beforeDoc } = await documentFor();
  const next = config(upstream.url, [{ name: 'embeddings', methods: ['POST'], paths: ['/v1/embeddings'], upstream: 'pool', docs: { summary: 'Embeddings' } }]);
  const started = Date.now();
  const { replaceConfig } = await import('../../gateway/src/config/replace-config.js');
  const state = await replaceConfig(gw.store, next, 'test');
  let doc: any;
  for (;;) {
    doc = (await documentFor()).body;
    if (doc.paths['/v1/embeddings']) break;
    if (Date.now() - started > 2000) assert.fail('the new route did not reach the document within 2 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(doc.info.version, String(state.revision));
  assert.notEqual(doc.info.version, beforeDoc.info.version);
  assert.equal(doc.paths['/v1/embeddings'].post.summary, 'Embeddings');
});

test('the documented routes serve as documented: "Try it out" with a key reaches the upstream', async () => {
  const ok = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'x-api-key': acmeKey, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(ok.status, 200);
  await ok.text();
  const bad = await fetch(`${gw.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'x-api-key': acmeKey, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [{ role: 'robot' }] }),
  });
  assert.equal(bad.status, 400);
  await bad.text();
});

test("a configured route on the portal's own path wins, and the revision still compiles", async () => {
  const next = config(upstream.url, [{ name: 'own-docs', methods: ['GET'], paths: ['/docs/openapi.json'], upstream: 'pool' }]);
  const revision = await gw.apply(next);
  assert.equal(gw.node.revision, revision);
  const response = await fetch(`${gw.url}/docs/openapi.json`);
  assert.equal(response.headers.get('x-upstream'), 'docs', 'the operator route answered');
  await response.text();
  await gw.apply(config(upstream.url));
  assert.equal((await documentFor()).status, 200);
});

test("the public listener's bare address leads to the portal, unless a route serves /", async () => {
  const root = await fetch(`${gw.url}/`, { redirect: 'manual' });
  assert.equal(root.status, 302);
  assert.equal(root.headers.get('location'), '/docs');
  await root.text();

  await gw.apply(config(upstream.url, [{ name: 'everything', methods: ['GET'], paths: ['/*'], upstream: 'pool' }]));
  const proxied = await fetch(`${gw.url}/`, { redirect: 'manual' });
  assert.equal(proxied.status, 200);
  assert.equal(proxied.headers.get('x-upstream'), 'docs', 'the catch-all route got /');
  await proxied.text();
  assert.equal((await documentFor()).status, 200, 'the portal still answers beside a catch-all');
  await gw.apply(config(upstream.url));
});
