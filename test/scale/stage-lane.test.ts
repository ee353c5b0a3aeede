import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { pino } from 'pino';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { waitFor } from '../helpers/gateway.js';
import { LogLines } from '../helpers/log-lines.js';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { ProblemError } from '../../gateway/src/errors.js';
import type { RouteStage, StageDone, StageReply, StageRequest } from '../../gateway/src/generation/route-stage.js';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { GatewayNode } from '../../gateway/src/node/gateway-node.js';
import { systemRoutes } from '../../gateway/src/node/system-routes.js';
import { defaultStages } from '../../plugins/index.js';
import { tempStore } from './scale-fixtures.js';

// A staged route whose stages need nothing of Fastify's is served on a stage lane
// (generation/stage-lane.ts): its hooks run on the stage contract's request and reply, outside
// Fastify. These pin that it keeps Fastify's order and answers, and that only such routes take it.

const ran: string[] = [];
let scopeSeen: unknown;
let fastifyRequestSeen: boolean | undefined;
/** For routes named `lane-*`: a callback hook, an async one and a preHandler, steered by the query. */
const lane: RouteStage = {
  name: 'lane',
  applies: (route) => route.name.startsWith('lane-'),
  register(builder, route) {
    builder.addHook('onRequest', function (this: unknown, request: StageRequest, reply: StageReply, done: StageDone) {
      scopeSeen = this;
      // Fastify's request has routeOptions; the stage lane's has only the stage contract.
      fastifyRequestSeen = 'routeOptions' in request;
      ran.push(`${route.name}:cb`);
      reply.header('X-Stage', route.name);
      const url = request.raw.url ?? '';
      if (url.includes('fail=cb')) return done(new ProblemError(403, 'forbidden', 'the callback hook refused'));
      if (url.includes('answer=1')) return void reply.code(299).header('content-type', 'text/plain').send(`answered by ${route.name}`);
      if (url.includes('throw=1')) throw new Error('a stage bug');
      done();
    });
    builder.addHook('onRequest', async (request: StageRequest) => {
      ran.push(`${route.name}:async`);
      if ((request.raw.url ?? '').includes('fail=async')) throw new ProblemError(429, 'rate-limited', 'the async hook refused');
    });
    builder.addHook('preHandler', async () => void ran.push(`${route.name}:pre`));
  },
};

/** Records every route Fastify is given in the staged routes' scopes (each revision compiles them anew). */
const given = new Set<string>();
const watched = new Set<unknown>();
const probe: RouteStage = {
  name: 'probe',
  applies: (route) => route.auth !== undefined && route.auth !== 'none',
  register: ({ scope }) => {
    if (watched.has(scope)) return;
    watched.add(scope);
    scope.addHook('onRoute', (options) => void given.add(`${([] as string[]).concat(options.method).join(',')} ${options.url}`));
  },
};

let up: EchoUpstream;
let node: GatewayNode;
let logs: LogLines;
let key: string;
let close: () => Promise<void>;
before(async () => {
  up = await startEchoUpstream('echo');
  const { store, dispose } = await tempStore();
  await replaceConfig(
    store,
    {
      upstreams: [{ name: 'echo', targets: [{ url: up.url }] }],
      routes: [
        { name: 'lane-a', upstream: 'echo', paths: ['/a/*'], methods: ['GET', 'POST'], bodyLimit: 100, auth: 'api-key' },
        { name: 'lane-b', upstream: 'echo', paths: ['/b'], methods: ['GET'], errorFormat: 'openai' },
        // The partner pipeline's shape: key, limit, querystring schema.
        {
          name: 'partner', upstream: 'echo', paths: ['/partner'], methods: ['GET'], auth: 'api-key', rateLimit: { max: 6, windowMs: 60_000, by: 'consumer' },
          schema: { querystring: { type: 'object', properties: { model: { type: 'string', pattern: '^[a-z0-9-]+$' }, n: { type: 'integer' } }, required: ['model'], additionalProperties: false } },
        },
        // A body schema needs Fastify's body parsing: this one stays a Fastify route.
        { name: 'with-body', upstream: 'echo', paths: ['/body'], methods: ['POST'], auth: 'api-key', schema: { body: { type: 'object', required: ['x'] } } },
      ],
      consumers: [{ name: 'acme' }],
    },
    'test',
  );
  logs = new LogLines();
  node = new GatewayNode({ store, logger: pino({ level: 'info' }, logs), port: 0, host: '127.0.0.1', accessLog: true, stages: [...defaultStages(), lane, probe], systemRoutes });
  await node.start();
  close = async () => {
    await node.close();
    await store.close();
    await dispose();
  };
  key = (await issueKey(store, 'acme', { actor: 'test' })).key;
  await waitFor(async () => (await request(`${node.url}/partner?model=m`, { headers: { 'x-api-key': key } }).then((r) => r.body.dump().then(() => r.statusCode))) === 200);
});
after(async () => {
  await close?.();
  await up?.close();
});

async function call(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const res = await request(`${node.url}${path}`, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}
const keyed = () => ({ 'x-api-key': key });
const accessLines = () => logs.lines.filter((l) => (l as { msg?: string }).msg === 'access') as Array<Record<string, unknown>>;

test('only the route whose body is parsed is given to Fastify; keyed, limited and querystring-checked routes are stage lanes', () => {
  assert.deepEqual([...given], ['POST /body']);
});

test("a stage lane runs the route's hooks in Fastify's order, with the scope as this, on the stage contract's request", async () => {
  ran.length = 0;
  const res = await call('/a/x', { headers: keyed() });
  assert.equal(res.status, 200);
  assert.deepEqual(ran, ['lane-a:cb', 'lane-a:async', 'lane-a:pre']);
  assert.equal(fastifyRequestSeen, false, "the hook got the stage lane's request, not Fastify's");
  assert.ok(scopeSeen !== undefined && typeof (scopeSeen as { route?: unknown }).route === 'function', 'called with the Fastify scope as this');
  assert.equal(res.headers['x-stage'], 'lane-a', "a header a hook set reaches the proxied answer");
  const upstream = up.received.at(-1)!;
  assert.equal(upstream.url, '/a/x');
  assert.equal(upstream.headers['x-api-key'], undefined, 'the consumed credential does not go upstream');
});

test('a refusal ends the phase with its problem, the headers set so far, in the route\'s error format, counted and logged', async () => {
  ran.length = 0;
  const unkeyed = await call('/a/x');
  assert.equal(unkeyed.status, 401);
  assert.equal(unkeyed.headers['www-authenticate'], 'Bearer realm="switchboard"');
  assert.equal(JSON.parse(unkeyed.body).instance, unkeyed.headers['x-request-id']);
  assert.deepEqual(ran, [], 'auth comes before this stage');

  const cb = await call('/a/x?fail=cb', { headers: keyed() });
  assert.equal(cb.status, 403);
  assert.equal(cb.headers['content-type'], 'application/problem+json');
  assert.equal(cb.headers['x-stage'], 'lane-a', 'headers a hook set before the refusal are kept');
  assert.ok(JSON.parse(cb.body).type.endsWith('forbidden'));

  ran.length = 0;
  const async = await call('/b?fail=async');
  assert.equal(async.status, 429);
  assert.equal(typeof JSON.parse(async.body).error?.message, 'string', "OpenAI's error shape on the openai route");
  assert.deepEqual(ran, ['lane-b:cb', 'lane-b:async']);

  ran.length = 0;
  const answered = await call('/b?answer=1');
  assert.deepEqual({ status: answered.status, body: answered.body, stage: answered.headers['x-stage'] }, { status: 299, body: 'answered by lane-b', stage: 'lane-b' });
  assert.match(String(answered.headers['x-request-id']), /./, 'a hook\'s own answer carries the request id too');
  assert.deepEqual(ran, ['lane-b:cb'], 'nothing runs after a hook answered');

  const thrown = await call('/b?throw=1');
  assert.equal(thrown.status, 500);
  assert.ok(!thrown.body.includes('a stage bug'), 'an internal error is not shown to the caller');
  await waitFor(() => logs.lines.some((l) => (l as { msg?: string }).msg === 'request failed inside the gateway'), 2000, 'the 500 logged');

  const metrics = node.metrics.render();
  assert.match(metrics, /switchboard_requests_total\{route="lane-a",status="403"\} 1/);
  assert.match(metrics, /switchboard_requests_total\{route="lane-b",status="299"\} 1/);
  await waitFor(() => accessLines().some((l) => l.requestId === cb.headers['x-request-id']), 2000, 'the access line of the 403');
  const line = accessLines().find((l) => l.requestId === cb.headers['x-request-id'])!;
  assert.deepEqual({ status: line.status, route: line.route, consumer: line.consumer, attempts: line.attempts }, { status: 403, route: 'lane-a', consumer: 'acme', attempts: 0 });
});

test("a stage lane checks the body's declared size after onRequest, and closes the connection it cannot reuse", async () => {
  const unkeyed = await call('/a/x', { method: 'POST', body: 'x'.repeat(200) });
  assert.equal(unkeyed.status, 401, 'who is calling is decided before the body matters');
  const tooLarge = await call('/a/x', { method: 'POST', headers: keyed(), body: 'x'.repeat(200) });
  assert.equal(tooLarge.status, 413);
  assert.equal(tooLarge.headers.connection, 'close');
  assert.ok(JSON.parse(tooLarge.body).type.endsWith('body-too-large'));
  const fits = await call('/a/x', { method: 'POST', headers: keyed(), body: 'x'.repeat(100) });
  assert.equal(fits.status, 200);
  assert.equal(up.received.at(-1)!.body, 'x'.repeat(100));
});

test("a stage lane validates the querystring with the route's schema, coercing as Fastify does, after the rate limit", async () => {
  const ok = await call('/partner?model=m-1&n=5', { headers: keyed() });
  assert.equal(ok.status, 200);
  assert.equal(up.received.at(-1)!.url, '/partner?model=m-1&n=5', 'the query goes upstream as sent');
  const bad = await call('/partner?model=M!&n=x&extra=1', { headers: keyed() });
  assert.equal(bad.status, 400);
  const problem = JSON.parse(bad.body);
  assert.ok(problem.type.endsWith('validation'));
  assert.deepEqual(problem.errors.map((e: { path: string }) => e.path).sort(), ['/querystring/extra', '/querystring/model', '/querystring/n']);
  const missing = await call('/partner', { headers: keyed() });
  assert.equal(missing.status, 400);
  assert.deepEqual(JSON.parse(missing.body).errors.map((e: { path: string }) => e.path), ['/querystring/model']);
  // The limit (6 a minute) counts refused queries too: it runs first, and its 429 comes before the query is judged.
  let limited = await call('/partner?n=not-a-number', { headers: keyed() });
  for (let n = 0; n < 6 && limited.status === 400; n++) limited = await call('/partner?n=not-a-number', { headers: keyed() });
  assert.equal(limited.status, 429);
  assert.equal(limited.headers['ratelimit-limit'], '6');
  assert.equal(limited.headers['ratelimit-remaining'], '0');
  assert.ok(Number(limited.headers['retry-after']) > 0);
});

test('a route that parses its body stays in Fastify, with the same stages', async () => {
  assert.equal((await call('/body', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"x":1}' })).status, 401);
  const bad = await call('/body', { method: 'POST', headers: { ...keyed(), 'content-type': 'application/json' }, body: '{}' });
  assert.equal(bad.status, 400);
  assert.deepEqual(JSON.parse(bad.body).errors.map((e: { path: string }) => e.path), ['/body/x']);
  assert.equal((await call('/body', { method: 'POST', headers: { ...keyed(), 'content-type': 'application/json' }, body: '{"x":1}' })).status, 200);
});
