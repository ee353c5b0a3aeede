import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { call } from '../plugins/fixtures.js';
import { metricValue, simulatedUsage, sseData, startBadWorker, type BadWorker } from './fixtures.js';

let worker: GpuWorker;
let bad: BadWorker;
let gw: TestGateway;
let key: string;

const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say something about gateways.' }];

before(async () => {
  worker = await startGpuWorker({ prefillMs: 5, tokenMs: 1, model: 'sim-llm' });
  bad = await startBadWorker();
  gw = await startGateway({
    upstreams: [
      { name: 'gpus', targets: [{ url: worker.url }] },
      { name: 'bad', targets: [{ url: bad.url }] },
    ],
    routes: [
      { name: 'chat', methods: ['POST'], paths: ['/v1/chat/completions'], upstream: 'gpus', auth: 'api-key', meterStreams: true },
      { name: 'chat-meter-only', methods: ['POST'], paths: ['/plain/v1/chat/completions'], upstream: 'gpus', stripPrefix: '/plain', meterTokens: true },
      { name: 'unmetered', methods: ['POST'], paths: ['/open/v1/chat/completions'], upstream: 'gpus', stripPrefix: '/open' },
      { name: 'bad', methods: ['POST'], paths: ['/v1/*'], upstream: 'bad', meterStreams: true },
      // Two routes on one path told apart by a header: the selector (route-select.ts) must read the body for meterStreams.
      { name: 'by-header', methods: ['POST'], paths: ['/m/v1/chat/completions'], stripPrefix: '/m', upstream: 'gpus', meterStreams: true, match: { headers: { 'x-pool': 'gpus' } } },
      { name: 'by-header-other', methods: ['POST'], paths: ['/m/v1/chat/completions'], stripPrefix: '/m', upstream: 'bad', match: { headers: { 'x-pool': 'bad' } } },
    ],
    consumers: [{ name: 'acme' }],
  });
  key = (await issueKey(gw.store, 'acme', { actor: 'test' })).key;
  const revision = await gw.store.revision();
  await waitFor(() => gw.node.revision >= revision, 5000, 'key in force');
});
after(async () => {
  await gw.close();
  await worker.close();
  await bad.close();
});

const chat = (path: string, body: object, headers: Record<string, string> = {}) =>
  call(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const tokens = (consumer: string, kind: string, route = 'chat', model = 'sim-llm') =>
  metricValue(gw.metrics.render(), 'switchboard_tokens_total', { route, consumer, model, kind });

describe('token metering', () => {
  test("a non-streamed answer's usage is counted exactly as the worker reported it, per consumer, route and model", async () => {
    const before = { p: tokens('acme', 'prompt'), c: tokens('acme', 'completion') };
    const answer = await chat('/v1/chat/completions', { model: 'sim-llm', messages, max_tokens: 7 }, { 'x-api-key': key });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body.usage, simulatedUsage(messages, 7));
    await waitFor(() => tokens('acme', 'completion') === before.c + 7, 2000, 'completion tokens counted');
    assert.equal(tokens('acme', 'prompt') - before.p, answer.body.usage.prompt_tokens);
  });

  test("a stream the client asked usage for keeps its usage chunk, and is counted once from it", async () => {
    const before = { p: tokens('acme', 'prompt'), c: tokens('acme', 'completion') };
    const answer = await chat('/v1/chat/completions', { model: 'sim-llm', messages, max_tokens: 5, stream: true, stream_options: { include_usage: true } }, { 'x-api-key': key });
    assert.equal(answer.status, 200);
    const events = sseData(answer.text);
    assert.equal(events.at(-1), '[DONE]');
    const usageChunks = events.filter((d) => d.includes('"usage"')).map((d) => JSON.parse(d));
    assert.equal(usageChunks.length, 1, 'the client gets the usage chunk it asked for');
    assert.deepEqual(usageChunks[0].usage, simulatedUsage(messages, 5));
    await waitFor(() => tokens('acme', 'completion') === before.c + 5, 2000, 'completion tokens counted');
    assert.equal(tokens('acme', 'prompt') - before.p, usageChunks[0].usage.prompt_tokens);
  });

  test('meterStreams asks the worker for usage on a stream the client did not, and removes that usage-only chunk from what the client receives', async () => {
    const before = { p: tokens('acme', 'prompt'), c: tokens('acme', 'completion') };
    const answer = await chat('/v1/chat/completions', { model: 'sim-llm', messages, max_tokens: 6, stream: true }, { 'x-api-key': key });
    assert.equal(answer.status, 200);
    const events = sseData(answer.text);
    assert.ok(!answer.text.includes('usage'), `no usage reaches the client: ${answer.text.slice(-300)}`);
    assert.equal(events.at(-1), '[DONE]');
    const content = events.slice(0, -1).map((d) => JSON.parse(d));
    assert.equal(content.filter((c) => c.choices[0]?.delta?.content !== undefined).length, 6, 'every token chunk arrives');
    assert.equal(content.at(-1).choices[0].finish_reason, 'length', 'the finish chunk arrives');
    const expected = simulatedUsage(messages, 6);
    await waitFor(() => tokens('acme', 'completion') === before.c + 6, 2000, 'completion tokens counted');
    assert.equal(tokens('acme', 'prompt') - before.p, expected.prompt_tokens);
    const text = gw.metrics.render();
    assert.ok(metricValue(text, 'switchboard_time_to_first_token_seconds_count', { route: 'chat' }) >= 1, 'time to first token observed');
    assert.ok(metricValue(text, 'switchboard_time_per_output_token_seconds_count', { route: 'chat' }) >= 1, 'time per output token observed');
  });

  test('the body forwarded with include_usage added is valid JSON with a matching content-length, everything else as sent', async () => {
    const sent = { model: 'm', stream: true, stream_options: { other: 1 }, messages: [{ role: 'user', content: 'é ✓' }] };
    const answer = await chat('/v1/echo', sent);
    assert.equal(answer.status, 200);
    const received = bad.bodies.at(-1)!;
    assert.equal(received.path, '/v1/echo');
    assert.deepEqual(JSON.parse(received.body), { ...sent, stream_options: { other: 1, include_usage: true } });
    const plain = { model: 'm', messages: [] };
    await chat('/v1/echo', plain);
    assert.equal(bad.bodies.at(-1)!.body, JSON.stringify(plain), 'a request that is not streamed goes byte for byte');
  });

  test('meterStreams works on a route chosen among several on one path: usage added, counted, and removed for the client', async () => {
    const before = tokens('anonymous', 'completion', 'by-header');
    const answer = await chat('/m/v1/chat/completions', { model: 'sim-llm', messages, max_tokens: 4, stream: true }, { 'x-pool': 'gpus' });
    assert.equal(answer.status, 200, answer.text);
    assert.ok(!answer.text.includes('usage'));
    await waitFor(() => tokens('anonymous', 'completion', 'by-header') === before + 4, 2000, 'tokens counted on the header-matched route');
  });

  test('meterTokens alone reads usage but leaves a stream without include_usage untouched (nothing to count)', async () => {
    const before = tokens('anonymous', 'completion', 'chat-meter-only');
    const answer = await chat('/plain/v1/chat/completions', { model: 'sim-llm', messages, max_tokens: 3, stream: true });
    assert.ok(!answer.text.includes('usage'));
    const whole = await chat('/plain/v1/chat/completions', { model: 'sim-llm', messages, max_tokens: 4 });
    assert.equal(whole.body.usage.completion_tokens, 4);
    await waitFor(() => tokens('anonymous', 'completion', 'chat-meter-only') === before + 4, 2000, 'anonymous tokens counted');
  });

  test('a route that does not meter counts nothing', async () => {
    await chat('/open/v1/chat/completions', { model: 'sim-llm', messages, max_tokens: 2 });
    assert.doesNotMatch(gw.metrics.render(), /switchboard_tokens_total\{route="unmetered"/);
  });

  /** A 2 000-token stream (1 ms a token) the client leaves after its first `events` events: the data it saw. */
  async function leaveStream(body: object, events: number): Promise<string[]> {
    const leave = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ model: 'sim-llm', messages, max_tokens: 2000, stream: true, ...body }),
      signal: leave.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let text = '';
    while (sseData(text).length < events) text += new TextDecoder().decode((await reader.read()).value);
    leave.abort();
    return sseData(text);
  }

  test('a stream the client leaves midway is billed what continuous usage stats reported up to the cut', async () => {
    const before = { p: tokens('acme', 'prompt'), c: tokens('acme', 'completion') };
    const seen = JSON.parse((await leaveStream({ stream_options: { include_usage: true, continuous_usage_stats: true } }, 5))[4]!) as { usage: { completion_tokens: number } };
    await waitFor(() => tokens('acme', 'completion') > before.c, 2000, 'a cut stream billed');
    const billed = tokens('acme', 'completion') - before.c;
    assert.ok(billed >= seen.usage.completion_tokens && billed < 2000, `billed ${billed} completion tokens: at least the ${seen.usage.completion_tokens} the client saw, not the 2 000 asked for`);
    assert.equal(tokens('acme', 'prompt') - before.p, simulatedUsage(messages, 0).prompt_tokens);
  });

  test('a stream cut without usage stats is billed nothing', async () => {
    const before = { p: tokens('acme', 'prompt'), c: tokens('acme', 'completion') };
    await leaveStream({}, 5);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual({ p: tokens('acme', 'prompt'), c: tokens('acme', 'completion') }, before);
  });

  test("a worker's malformed usage is passed to the client, counted as unknown and billed nothing; the gateway keeps serving", async () => {
    const unknown = () => metricValue(gw.metrics.render(), 'switchboard_token_usage_unknown_total', { route: 'bad', consumer: 'anonymous' });
    const billed = () => tokens('anonymous', 'prompt', 'bad', 'bad-llm') + tokens('anonymous', 'completion', 'bad', 'bad-llm');
    const start = { unknown: unknown(), billed: billed() };
    for (const path of ['/v1/string-count', '/v1/not-json', '/v1/bad-total', '/v1/stream-negative']) {
      const answer = await chat(path, { model: 'm', stream: path.includes('stream') });
      assert.equal(answer.status, 200, path);
    }
    await waitFor(() => unknown() === start.unknown + 4, 2000, 'four unknown usages');
    assert.equal(billed(), start.billed, 'nothing billed for them');
    const good = await chat('/v1/good', { model: 'm' });
    assert.equal(good.status, 200);
    await waitFor(() => billed() === start.billed + 12, 2000, 'a good answer after them is billed');
  });
});
