/**
 * What token metering costs per request: the same chat POST (a small JSON answer with usage)
 * through a plain route, a keyed route, and the same keyed route with meterTokens and a consumer
 * token limit, side by side in one run; the gateway alone in a child process so only its CPU
 * is counted. The machine it runs on should be quiet; a loaded one widens every figure.
 *
 *   node_modules/.bin/node dist/test/inference/token-meter-cost.js
 */
import { fileURLToPath } from 'node:url';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { answerCpuProbes, cpuPerRequestRounds, forkCpuChild, median } from '../helpers/cpu-child.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway } from '../helpers/gateway.js';
import { caughtUp } from '../plugins/fixtures.js';

const BODY = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 16 });
const ANSWER = JSON.stringify({
  id: 'chatcmpl-1',
  object: 'chat.completion',
  created: 1,
  model: 'sim-llm',
  choices: [{ index: 0, message: { role: 'assistant', content: 'the gateway routes each request to a healthy worker' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 9, completion_tokens: 16, total_tokens: 25 },
});
const PATHS = ['/plain', '/keyed', '/metered'] as const;

async function serve(upstreamUrl: string): Promise<void> {
  const gw = await startGateway({
    upstreams: [{ name: 'echo', targets: [{ url: upstreamUrl }] }],
    routes: [
      { name: 'plain', methods: ['POST'], paths: ['/plain'], upstream: 'echo' },
      { name: 'keyed', methods: ['POST'], paths: ['/keyed'], upstream: 'echo', auth: 'api-key' },
      { name: 'metered', methods: ['POST'], paths: ['/metered'], upstream: 'echo', auth: 'api-key', meterTokens: true },
    ],
    consumers: [{ name: 'acme', tokenLimit: { max: 1_000_000_000_000, windowMs: 3_600_000 } }],
  });
  const { key } = await issueKey(gw.store, 'acme', { actor: 'bench' });
  await caughtUp(gw);
  answerCpuProbes(gw, { url: gw.url, key });
}

async function measure(): Promise<void> {
  const upstream = await startEchoUpstream('echo');
  upstream.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) });
    res.end(ANSWER);
    return true;
  };
  const gateway = await forkCpuChild<{ url: string; key: string }>(fileURLToPath(import.meta.url), ['serve', upstream.url]);
  const { url, key } = gateway.hello;
  const loads = PATHS.map((path) => ({
    name: path,
    cpu: gateway.cpu,
    request: { url: url + path, method: 'POST', body: BODY, headers: { 'content-type': 'application/json', ...(path !== '/plain' ? { 'x-api-key': key } : {}) } },
  }));
  const [p, k, m] = (await cpuPerRequestRounds(loads)).map(median) as [number, number, number];
  console.log(`gateway CPU per request (median of 5 rounds × 10 000 requests, 16 connections)`);
  console.log(`  plain route                                ${p.toFixed(1)} µs`);
  console.log(`  api-key route                              ${k.toFixed(1)} µs`);
  console.log(`  api-key + meterTokens + consumer tokenLimit ${m.toFixed(1)} µs   (+${(m - k).toFixed(1)} µs over the same keyed route)`);
  gateway.exit();
  await upstream.close();
}

if (process.argv[2] === 'serve') void serve(process.argv[3]!);
else void measure();
