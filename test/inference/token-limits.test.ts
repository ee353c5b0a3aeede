import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { call } from '../plugins/fixtures.js';
import { simulatedUsage } from './fixtures.js';
import { awayFromWindowEdge } from './window-edge.js';

let worker: GpuWorker;
let gw: TestGateway;
const keys: Record<string, string> = {};

const messages = [{ role: 'user', content: 'Count to three.' }];
const MAX_TOKENS = 10;
/** Tokens one request spends: the simulated worker's prompt estimate plus max_tokens. */
const PER_REQUEST = simulatedUsage(messages, MAX_TOKENS).total_tokens;
/** An hour: the fixed windows must not roll over mid-test (see window-edge.ts). */
const WINDOW_MS = 3_600_000;
const RESET = /^(\d+ms|\d+s|\d+m\d+s|\d+h\d+m\d+s)$/;

before(async () => {
  worker = await startGpuWorker({ prefillMs: 2, tokenMs: 1 });
  gw = await startGateway({
    upstreams: [{ name: 'gpus', targets: [{ url: worker.url }] }],
    routes: [
      { name: 'chat', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'gpus', auth: 'api-key', meterTokens: true, rateLimit: { max: 1000, windowMs: 60_000 } },
      { name: 'open', methods: ['POST'], paths: ['/open/v1/chat/completions'], upstream: 'gpus', stripPrefix: '/open', tokenLimit: { max: 2 * PER_REQUEST - 1, windowMs: WINDOW_MS } },
      { name: 'openai', methods: ['POST'], paths: ['/oa/v1/chat/completions'], upstream: 'gpus', stripPrefix: '/oa', errorFormat: 'openai', tokenLimit: { max: 1, windowMs: WINDOW_MS } },
      { name: 'unmetered', methods: ['POST'], paths: ['/plain/v1/chat/completions'], upstream: 'gpus', stripPrefix: '/plain', auth: 'api-key' },
    ],
    consumers: [
      { name: 'acme', tokenLimit: { max: 3 * PER_REQUEST, windowMs: WINDOW_MS } },
      { name: 'globex', tokenQuota: { max: PER_REQUEST, period: 'day' } },
      { name: 'initech' },
    ],
  });
  for (const name of ['acme', 'globex', 'initech']) keys[name] = (await issueKey(gw.store, name, { actor: 'test' })).key;
  const revision = await gw.store.revision();
  await waitFor(() => gw.node.revision >= revision, 5000, 'keys in force');
  // The daily quota's window is the UTC day, which holds the hour's.
  await awayFromWindowEdge(86_400_000);
  await awayFromWindowEdge(WINDOW_MS);
});
after(async () => {
  await gw.close();
  await worker.close();
});

const chat = (path: string, key?: string) =>
  call(`${gw.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) },
    body: JSON.stringify({ model: 'sim-llm', messages, max_tokens: MAX_TOKENS }),
  });

describe('token limits and quotas', () => {
  test('a consumer token limit admits requests while tokens are left, then refuses with 429, Retry-After and OpenAI headers', async () => {
    const remaining: number[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await chat('/v1/chat/completions', keys.acme);
      assert.equal(a.status, 200, `request ${i + 1}: ${a.text}`);
      assert.equal(a.body.usage.total_tokens, PER_REQUEST);
      assert.equal(a.headers.get('x-ratelimit-limit-tokens'), String(3 * PER_REQUEST));
      assert.match(a.headers.get('x-ratelimit-reset-tokens')!, RESET);
      remaining.push(Number(a.headers.get('x-ratelimit-remaining-tokens')));
      // The request-limit side of OpenAI's headers, from the route's rateLimit.
      assert.equal(a.headers.get('x-ratelimit-limit-requests'), '1000');
      assert.equal(a.headers.get('x-ratelimit-remaining-requests'), String(1000 - i - 1));
      assert.match(a.headers.get('x-ratelimit-reset-requests')!, RESET);
    }
    // Headers are what was left when the request was admitted: tokens are charged on completion.
    assert.deepEqual(remaining, [3 * PER_REQUEST, 2 * PER_REQUEST, PER_REQUEST]);
    const refused = await chat('/v1/chat/completions', keys.acme);
    assert.equal(refused.status, 429);
    assert.match(refused.headers.get('content-type')!, /^application\/problem\+json/);
    assert.equal(refused.body.type, 'urn:switchboard:problem:rate-limited');
    assert.match(refused.body.detail, /token limit of \d+ tokens per 3600 s is used up/);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(refused.headers.get('x-ratelimit-remaining-tokens'), '0');
    assert.equal(worker.stats().requests, 3, 'the refused request never reached the worker');
    assert.match(gw.metrics.render(), /switchboard_ratelimit_rejected_total\{route="chat"\} 1/);
    // Another consumer is untouched.
    assert.equal((await chat('/v1/chat/completions', keys.initech)).status, 200);
  });

  test('a route token limit without auth counts per client address and overshoots by at most the request in flight', async () => {
    assert.equal((await chat('/open/v1/chat/completions')).status, 200);
    // One token left of the window: admitted ("admit while budget > 0"), and it spends PER_REQUEST.
    const last = await chat('/open/v1/chat/completions');
    assert.equal(last.status, 200);
    assert.equal(last.headers.get('x-ratelimit-remaining-tokens'), String(PER_REQUEST - 1));
    const refused = await chat('/open/v1/chat/completions');
    assert.equal(refused.status, 429);
    assert.match(refused.body.detail, /route's token limit/);
  });

  test('on a route with errorFormat "openai" the token 429 is OpenAI-shaped, with the same status and headers', async () => {
    assert.equal((await chat('/oa/v1/chat/completions')).status, 200);
    const refused = await chat('/oa/v1/chat/completions');
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error.code, 'rate_limit_exceeded');
    assert.match(refused.body.error.message, /token limit of 1 tokens/);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal(refused.headers.get('x-ratelimit-limit-tokens'), '1');
    assert.equal(refused.headers.get('x-ratelimit-remaining-tokens'), '0');
  });

  test('a daily token quota refuses with quota-exceeded once spent', async () => {
    assert.equal((await chat('/v1/chat/completions', keys.globex)).status, 200);
    const refused = await chat('/v1/chat/completions', keys.globex);
    assert.equal(refused.status, 429);
    assert.equal(refused.body.type, 'urn:switchboard:problem:quota-exceeded');
    assert.match(refused.body.detail, /daily token quota/);
    const retry = Number(refused.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 86_400, `retry-after ${retry} is within the UTC day`);
  });

  test('routes that do not meter neither count nor refuse by tokens', async () => {
    for (let i = 0; i < 3; i++) {
      const a = await chat('/plain/v1/chat/completions', keys.globex);
      assert.equal(a.status, 200, 'the spent quota applies only where tokens are metered');
      assert.equal(a.headers.get('x-ratelimit-limit-tokens'), null);
    }
  });
});
