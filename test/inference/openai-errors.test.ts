import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { call, caughtUp } from '../plugins/fixtures.js';

describe('errorFormat "openai": the official openai client raises its typed errors with the gateway message', () => {
  let worker: GpuWorker;
  let dead: GpuWorker;
  let gw: TestGateway;
  let key: string;
  let limitedKey: string;

  before(async () => {
    worker = await startGpuWorker({ name: 'gpu-1', model: 'sim-llm', prefillMs: 1, tokenMs: 1 });
    dead = await startGpuWorker({ name: 'gpu-dead' });
    await dead.kill();
    gw = await startGateway({
      upstreams: [
        { name: 'gpus', targets: [{ url: worker.url }] },
        // Its one worker is dead and the health check says so: the pool has no target to give (503).
        {
          name: 'drained',
          targets: [{ url: dead.url }],
          healthCheck: { active: { type: 'http', path: '/health', intervalMs: 100, timeoutMs: 100, healthyThreshold: 1, unhealthyThreshold: 1, expectedStatus: [200] } },
        },
      ],
      routes: [
        { name: 'chat', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'gpus', auth: 'api-key', errorFormat: 'openai', match: { body: { model: ['sim-llm'] } } },
        { name: 'drained-chat', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'drained', auth: 'api-key', errorFormat: 'openai', match: { body: { model: ['drained-llm'] } }, retries: 0 },
        { name: 'plain-problem', methods: ['GET'], paths: ['/plain/*'], upstream: 'drained', retries: 0 },
      ],
      consumers: [{ name: 'acme' }, { name: 'limited', rateLimit: { max: 1, windowMs: 60000 } }],
    });
    key = (await issueKey(gw.store, 'acme', { actor: 'test' })).key;
    limitedKey = (await issueKey(gw.store, 'limited', { actor: 'test' })).key;
    await caughtUp(gw);
    await waitFor(async () => (await call(`${gw.url}/plain/x`)).status === 503, 5000, 'the dead worker taken out');
  });

  after(async () => {
    await gw?.close();
    await worker?.close();
    await dead?.close();
  });

  const client = (apiKey: string) => new OpenAI({ baseURL: `${gw.url}/v1`, apiKey, maxRetries: 0 });
  const ask = (c: OpenAI, model = 'sim-llm') => c.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });

  it('answers a good key with a completion', async () => {
    const answer = await ask(client(key));
    assert.equal(answer.model, 'sim-llm');
  });

  it('raises AuthenticationError for a bad key', async () => {
    await assert.rejects(ask(client('sb_live_not-a-real-key')), (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
      assert.equal(err.status, 401);
      assert.match(err.message, /missing or invalid credentials/);
      assert.equal(err.type, 'authentication_error');
      assert.ok(err.headers.get('x-request-id'));
      return true;
    });
  });

  it('raises RateLimitError past the consumer limit, with Retry-After', async () => {
    const c = client(limitedKey);
    await ask(c);
    await assert.rejects(ask(c), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError, String(err));
      assert.match(err.message, /rate limit of 1 requests exceeded/);
      assert.equal(err.code, 'rate_limit_exceeded');
      assert.ok(Number(err.headers.get('retry-after')) >= 1);
      return true;
    });
  });

  it('raises a typed 5xx error for a pool with no target to serve', async () => {
    await assert.rejects(ask(client(key), 'drained-llm'), (err: unknown) => {
      assert.ok(err instanceof OpenAI.InternalServerError, String(err));
      assert.equal(err.status, 503);
      assert.match(err.message, /upstream "drained" has no healthy target/);
      assert.equal(err.code, 'no_healthy_target');
      assert.equal(err.headers.get('retry-after'), '1');
      return true;
    });
  });

  it('raises NotFoundError naming a model no route serves', async () => {
    await assert.rejects(ask(client(key), 'gpt-0'), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError, String(err));
      assert.match(err.message, /gpt-0/);
      assert.equal(err.code, 'model_not_found');
      return true;
    });
  });

  it('keeps problem+json on routes without errorFormat', async () => {
    const res = await call(`${gw.url}/plain/x`);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.equal(res.body.status, 503);
  });
});
