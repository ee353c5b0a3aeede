/**
 * What the partner-access stages cost per request: the same POST through a plain route and
 * through one with api-key auth + a rate limit + a body schema, side by side in one run, the
 * gateway alone in a child process so only its CPU is counted.
 *
 *   node_modules/.bin/node dist/test/plugins/stage-cost.js
 */
import { fileURLToPath } from 'node:url';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { answerCpuProbes, cpuPerRequestRounds, forkCpuChild, median } from '../helpers/cpu-child.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway } from '../helpers/gateway.js';
import { caughtUp } from './fixtures.js';

const BODY = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 16, stream: false });
const SCHEMA = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    model: { type: 'string' },
    messages: { type: 'array', items: { type: 'object', required: ['role', 'content'], properties: { role: { type: 'string' }, content: { type: 'string' } } } },
    max_tokens: { type: 'integer', minimum: 1 },
    stream: { type: 'boolean' },
  },
};

async function serve(upstreamUrl: string): Promise<void> {
  const gw = await startGateway({
    upstreams: [{ name: 'echo', targets: [{ url: upstreamUrl }] }],
    routes: [
      { name: 'plain', methods: ['POST'], paths: ['/plain'], upstream: 'echo' },
      { name: 'staged', methods: ['POST'], paths: ['/staged'], upstream: 'echo', auth: 'api-key', rateLimit: { max: 1_000_000_000, windowMs: 60_000, by: 'consumer' }, schema: { body: SCHEMA } },
    ],
    consumers: [{ name: 'acme' }],
  });
  const { key } = await issueKey(gw.store, 'acme', { actor: 'bench' });
  await caughtUp(gw);
  answerCpuProbes(gw, { url: gw.url, key });
}

async function measure(): Promise<void> {
  const upstream = await startEchoUpstream('echo');
  upstream.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
    res.end('{}');
    return true;
  };
  const gateway = await forkCpuChild<{ url: string; key: string }>(fileURLToPath(import.meta.url), ['serve', upstream.url]);
  const { url, key } = gateway.hello;
  const load = (path: string, headers: Record<string, string>) => ({ name: path, cpu: gateway.cpu, request: { url: url + path, method: 'POST', body: BODY, headers } });
  const json = { 'content-type': 'application/json' };
  const [plain, staged] = await cpuPerRequestRounds([load('/plain', json), load('/staged', { ...json, 'x-api-key': key })]);
  const p = median(plain!);
  const s = median(staged!);
  console.log(`gateway CPU per request (median of 5 rounds × 10 000 requests, 16 connections)`);
  console.log(`  plain route                         ${p.toFixed(1)} µs`);
  console.log(`  api-key + rate limit + body schema  ${s.toFixed(1)} µs   (${(s / p).toFixed(2)}×, +${(s - p).toFixed(1)} µs)`);
  gateway.exit();
  await upstream.close();
}

if (process.argv[2] === 'serve') void serve(process.argv[3]!);
else void measure();
