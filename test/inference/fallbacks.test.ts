import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startGpuWorker, type GpuWorker } from '../../gateway/src/simulator/gpu-worker.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway, waitFor, type TestGateway } from '../helpers/gateway.js';
import { call } from '../plugins/fixtures.js';

const active = { type: 'http', path: '/health', intervalMs: 100, timeoutMs: 100, healthyThreshold: 1, unhealthyThreshold: 1, expectedStatus: [200] };

describe('fallbacks: a drained or refusing pool hands the request to the next one', () => {
  let dead: GpuWorker;
  let busy: GpuWorker;
  let backup: GpuWorker;
  let recorder: EchoUpstream;
  let gw: TestGateway;

  before(async () => {
    dead = await startGpuWorker({ name: 'gpu-dead' });
    await dead.kill();
    // One slot and no queue: a second request while the first is served is answered 503.
    busy = await startGpuWorker({ name: 'gpu-busy', slots: 1, maxQueue: 0, prefillMs: 400, tokenMs: 1 });
    backup = await startGpuWorker({ name: 'gpu-backup', model: 'llama-small', prefillMs: 1, tokenMs: 1 });
    recorder = await startEchoUpstream('recorder');
    gw = await startGateway({
      upstreams: [
        { name: 'primary', targets: [{ url: dead.url }], healthCheck: { active } },
        { name: 'busy', targets: [{ url: busy.url }] },
        { name: 'backup', targets: [{ url: backup.url }] },
        { name: 'recorder', targets: [{ url: recorder.url }] },
      ],
      routes: [
        {
          name: 'chat',
          methods: ['POST'],
          paths: ['/v1/chat/completions'],
          upstream: 'primary',
          errorFormat: 'openai',
          match: { body: { model: ['gpt-4o'] } },
          fallbacks: [{ upstream: 'recorder', rewrite: { model: 'llama-small' } }],
        },
        { name: 'busy-chat', methods: ['POST'], paths: ['/v1/completions'], upstream: 'busy', fallbacks: ['backup'] },
      ],
    }).catch((err) => {
      throw err;
    });
    await waitFor(() => /switchboard_upstream_target_healthy\{upstream="primary"[^}]*\} 0/.test(gw.metrics.render()), 5000, 'the dead worker taken out');
  });

  after(async () => {
    await gw?.close();
    await Promise.all([dead?.close(), busy?.close(), backup?.close(), recorder?.close()]);
  });

  it('sends the request to the fallback with the model rewritten, content-length fixed, and counts it', async () => {
    const sent = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
    const res = await call(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sent });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers.get('x-upstream'), 'recorder');
    const got = recorder.received.at(-1)!;
    assert.deepEqual(JSON.parse(got.body), { model: 'llama-small', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(Number(got.headers['content-length']), Buffer.byteLength(got.body));
    assert.match(gw.metrics.render(), /switchboard_fallbacks_total\{route="chat",from="primary",to="recorder"\} 1/);
  });

  it('falls back when the primary answers 503 before any byte reached the client', async () => {
    const body = JSON.stringify({ model: 'sim-llm', prompt: 'hi', max_tokens: 1 });
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body };
    const first = call(`${gw.url}/v1/completions`, init);
    await waitFor(() => busy.stats().running === 1, 2000, 'the busy worker serving one request');
    const second = await call(`${gw.url}/v1/completions`, init);
    assert.equal(second.status, 200, second.text);
    assert.equal(second.headers.get('x-worker'), 'gpu-backup');
    assert.equal(second.body.model, 'llama-small');
    assert.equal(busy.stats().rejected, 1);
    assert.equal((await first).headers.get('x-worker'), 'gpu-busy');
    assert.match(gw.metrics.render(), /switchboard_fallbacks_total\{route="busy-chat",from="busy",to="backup"\} 1/);
  });
});

describe('fallbacks: bad input', () => {
  it('refuses a fallback naming an unknown upstream, naming the field', async () => {
    const gw = await startGateway(undefined);
    try {
      await assert.rejects(
        gw.apply({
          upstreams: [{ name: 'a', targets: [{ url: 'http://127.0.0.1:9' }] }],
          routes: [{ name: 'r', paths: ['/x'], upstream: 'a', fallbacks: ['nope'] }],
        }),
        /fallbacks\/0.*unknown upstream "nope"/s,
      );
    } finally {
      await gw.close();
    }
  });
});
