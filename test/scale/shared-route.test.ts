import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { waitFor } from '../helpers/gateway.js';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { ProblemError } from '../../gateway/src/errors.js';
import type { RouteStage } from '../../gateway/src/generation/route-stage.js';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startNode, tempStore, type ScaleNode } from './scale-fixtures.js';

// Staged routes without a schema share their scope's one Fastify route (generation/shared-route.ts);
// these pin that each still gets exactly its own stages, in Fastify's order, and its own path.

/**
 * A stage for routes whose name starts with `hooked`: it records, per request, which of its
 * hooks ran and with what `this`; `?fail=cb` makes the callback hook fail, `?fail=async` the
 * async one, `?answer=1` makes the first hook answer itself.
 */
const ran: string[] = [];
let scopeSeen: unknown;
const hooked: RouteStage = {
  name: 'hooked',
  applies: (route) => route.name.startsWith('hooked'),
  register(builder, route) {
    builder.addFastifyHook('onRequest', function (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
      scopeSeen = this;
      ran.push(`${route.name}:cb`);
      const query = request.query as Record<string, string>;
      if (query.fail === 'cb') return done(new ProblemError(403, 'forbidden', 'the callback hook refused'));
      if (query.answer === '1') return void reply.code(299).send({ answeredBy: route.name });
      done();
    });
    builder.addFastifyHook('onRequest', async (request: FastifyRequest) => {
      ran.push(`${route.name}:async`);
      if ((request.query as Record<string, string>).fail === 'async') throw new ProblemError(429, 'rate-limited', 'the async hook refused');
    });
    builder.addHook('preHandler', async () => void ran.push(`${route.name}:pre`));
  },
};

let up: EchoUpstream;
let gw: ScaleNode;
let key: string;
before(async () => {
  up = await startEchoUpstream('echo');
  const { store, storePath, dispose } = await tempStore();
  await replaceConfig(
    store,
    {
      upstreams: [{ name: 'echo', targets: [{ url: up.url }] }],
      routes: [
        // A route with a schema keeps a Fastify route of its own: a parameter path beside a more
        // specific shared one, in the same scope.
        { name: 'by-id', upstream: 'echo', paths: ['/v1/:id'], methods: ['GET'], auth: 'api-key', schema: { querystring: { type: 'object', properties: { n: { type: 'integer' } } } } },
        { name: 'exact', upstream: 'echo', paths: ['/v1/y'], methods: ['GET'], auth: 'api-key' },
        { name: 'hooked-a', upstream: 'echo', paths: ['/a/*'], methods: ['GET', 'POST'] },
        { name: 'hooked-b', upstream: 'echo', paths: ['/b'], methods: ['GET'], errorFormat: 'openai' },
        // CORS gives the route an OPTIONS route of its own per path and host, behind the shared one too.
        { name: 'hosted', upstream: 'echo', paths: ['/h'], methods: ['GET'], hosts: ['api.example.test'], cors: { origins: ['*'] }, auth: 'api-key' },
      ],
      consumers: [{ name: 'acme' }],
    },
    'test',
  );
  gw = await startNode(store, storePath, dispose, [hooked]);
  key = (await issueKey(gw.store, 'acme', { actor: 'test' })).key;
  await waitFor(async () => (await request(`${gw.node.url}/v1/y`, { headers: { 'x-api-key': key } }).then((r) => r.body.dump().then(() => r.statusCode))) === 200);
});
after(async () => {
  await gw?.close();
  await up?.close();
});

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await request(`${gw.node.url}${path}`, { headers });
  return { status: res.statusCode, body: (await res.body.text()) as string };
}

test('a shared route more specific than a route of its own wins its path; the parameter route keeps the rest, schema included', async () => {
  const exact = await get('/v1/y?n=abc', { 'x-api-key': key });
  assert.equal(exact.status, 200, 'the shared route has no schema: n=abc passes');
  assert.equal(up.received.at(-1)?.url, '/v1/y?n=abc');
  assert.equal((await get('/v1/y')).status, 401);
  assert.equal((await get('/v1/z?n=abc', { 'x-api-key': key })).status, 400, "the parameter route's schema judges /v1/z");
  assert.equal((await get('/v1/z?n=5', { 'x-api-key': key })).status, 200);
  assert.equal((await get('/v1/z?n=5')).status, 401);
});

test("each shared route runs its own stages' hooks, in order, with the scope as this, and only those", async () => {
  ran.length = 0;
  assert.equal((await get('/a/x')).status, 200);
  assert.deepEqual(ran, ['hooked-a:cb', 'hooked-a:async', 'hooked-a:pre']);
  assert.ok(scopeSeen !== undefined && typeof (scopeSeen as FastifyInstance).route === 'function', 'called with the Fastify scope');
  ran.length = 0;
  assert.equal((await get('/b')).status, 200);
  assert.deepEqual(ran, ['hooked-b:cb', 'hooked-b:async', 'hooked-b:pre']);
  ran.length = 0;
  assert.equal((await get('/v1/y', { 'x-api-key': key })).status, 200);
  assert.deepEqual(ran, [], "another route's hooks never run");
});

test('a failing hook ends the phase with its problem in the route\'s error format; a hook that answers ends the request', async () => {
  ran.length = 0;
  const cb = await get('/a/x?fail=cb');
  assert.equal(cb.status, 403);
  assert.equal(JSON.parse(cb.body).type.endsWith('forbidden'), true, 'problem+json on a route without errorFormat');
  assert.deepEqual(ran, ['hooked-a:cb']);
  ran.length = 0;
  const async = await get('/b?fail=async');
  assert.equal(async.status, 429);
  assert.equal(typeof JSON.parse(async.body).error?.message, 'string', "OpenAI's error shape on the openai route");
  assert.deepEqual(ran, ['hooked-b:cb', 'hooked-b:async']);
  ran.length = 0;
  const answered = await get('/a/x?answer=1');
  assert.deepEqual({ status: answered.status, body: JSON.parse(answered.body) }, { status: 299, body: { answeredBy: 'hooked-a' } });
  assert.deepEqual(ran, ['hooked-a:cb'], 'nothing runs after a hook answered');
  assert.match(gw.node.metrics.render(), /switchboard_requests_total\{route="hooked-a",status="403"\} 1/);
});

test("a shared route's preflight answers on its host with or without a port, as the route's own paths match", async () => {
  for (const host of ['api.example.test', 'API.example.test:8443']) {
    const res = await request(`${gw.node.url}/h`, { method: 'OPTIONS', headers: { host, origin: 'https://app.example', 'access-control-request-method': 'GET' } });
    await res.body.dump();
    assert.equal(res.statusCode, 204, host);
    assert.equal(res.headers['access-control-allow-origin'], '*');
  }
  const other = await request(`${gw.node.url}/h`, { method: 'OPTIONS', headers: { host: 'other.example', origin: 'https://app.example', 'access-control-request-method': 'GET' } });
  await other.body.dump();
  assert.equal(other.statusCode, 404);
  const keyed = await request(`${gw.node.url}/h`, { headers: { host: 'api.example.test:8443', 'x-api-key': key } });
  await keyed.body.dump();
  assert.equal(keyed.statusCode, 200);
});

test("a shared route answers HEAD for its GET paths through the same hooks; the upstream gets the HEAD", async () => {
  ran.length = 0;
  const res = await request(`${gw.node.url}/a/x`, { method: 'HEAD' });
  assert.equal(res.statusCode, 200);
  assert.equal(await res.body.text(), '');
  assert.equal(up.received.at(-1)?.method, 'HEAD');
  assert.deepEqual(ran, ['hooked-a:cb', 'hooked-a:async', 'hooked-a:pre']);
  const refused = await request(`${gw.node.url}/a/x?fail=cb`, { method: 'HEAD' });
  assert.equal(refused.statusCode, 403);
  assert.equal(await refused.body.text(), '', 'HEAD answers carry no body');
});
