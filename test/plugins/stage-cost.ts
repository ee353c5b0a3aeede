/**
 * What the partner-access stages cost per request: the same POST through a plain route and
 * through one with api-key auth + a rate limit + a body schema, side by side in one run, the
 * gateway alone in a child process so only its CPU is counted.
 *
 *   node_modules/.bin/node dist/test/plugins/stage-cost.js
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { answerCpuProbes, forkCpuChild, median } from '../helpers/cpu-child.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway } from '../helpers/gateway.js';
import { caughtUp } from './fixtures.js';

// autocannon ships no type declarations.
const autocannon = createRequire(import.meta.url)('autocannon') as (options: Record<string, unknown>) => Promise<{ non2xx: number }>;

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
  const cpu = gateway.cpu;
  const run = async (path: string, amount: number) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (path === '/staged') headers['x-api-key'] = key;
    const before = await cpu();
    const result = await autocannon({ url: url + path, method: 'POST', body: BODY, headers, connections: 16, amount });
    const used = (await cpu()) - before;
    if (result.non2xx) throw new Error(`${path}: ${result.non2xx} non-2xx answers`);
    return used / amount;
  };
  await run('/plain', 5000);
  await run('/staged', 5000);
  const plain: number[] = [];
  const staged: number[] = [];
  for (let round = 0; round < 5; round++) {
    plain.push(await run('/plain', 10_000));
    staged.push(await run('/staged', 10_000));
  }
  const p = median(plain);
  const s = median(staged);
  console.log(`gateway CPU per request (median of 5 rounds × 10 000 requests, 16 connections)`);
  console.log(`  plain route                         ${p.toFixed(1)} µs`);
  console.log(`  api-key + rate limit + body schema  ${s.toFixed(1)} µs   (${(s / p).toFixed(2)}×, +${(s - p).toFixed(1)} µs)`);
  gateway.exit();
  await upstream.close();
}

if (process.argv[2] === 'serve') void serve(process.argv[3]!);
else void measure();
