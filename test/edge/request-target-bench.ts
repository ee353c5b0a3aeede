/**
 * ns/op of the node's request-target check (gateway/src/node/request-target.ts), the only
 * per-request work defects 2 and 3 add: `node dist/test/edge/request-target-bench.js`.
 * The common case is a plain path (one scan) plus the Host checks; the slow case normalizes.
 * A loaded machine inflates every figure alike: read them against the reference line, the
 * router lookup (find-my-way, 10 routes) every request pays anyway.
 */
import type { IncomingMessage } from 'node:http';
import FindMyWay from 'find-my-way';
import { admitRequestTarget } from '../../gateway/src/node/request-target.js';

const RAW_HEADERS = ['Host', 'api.example.com:8080', 'User-Agent', 'openai-python/1.40', 'Accept', 'application/json', 'Content-Type', 'application/json', 'Authorization', 'Bearer sk-…', 'Content-Length', '512', 'X-Request-Id', 'abc', 'Connection', 'keep-alive'];

function fakeRequest(url: string): IncomingMessage {
  return { httpVersionMajor: 1, httpVersion: '1.1', url, headers: { host: 'api.example.com:8080' }, rawHeaders: RAW_HEADERS } as unknown as IncomingMessage;
}

function measure(name: string, url: string, rounds = 5, iterations = 2_000_000): void {
  const reqs = Array.from({ length: 64 }, () => fakeRequest(url));
  let refused = 0;
  const results: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      const req = reqs[i & 63]!;
      req.url = url;
      if (admitRequestTarget(req) !== undefined) refused++;
    }
    results.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  results.sort((a, b) => a - b);
  console.log(`${name.padEnd(44)} ${results[Math.floor(rounds / 2)]!.toFixed(1).padStart(7)} ns/op (median of ${rounds} × ${iterations})${refused ? ' refused' : ''}`);
}

function baseline(rounds = 5, iterations = 2_000_000): void {
  const reqs = Array.from({ length: 64 }, () => fakeRequest('/v1/chat/completions'));
  const results: number[] = [];
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      const req = reqs[i & 63]!;
      req.url = '/v1/chat/completions';
      sink += req.url.length;
    }
    results.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  results.sort((a, b) => a - b);
  console.log(`${'loop overhead (no check)'.padEnd(44)} ${results[Math.floor(rounds / 2)]!.toFixed(1).padStart(7)} ns/op${sink < 0 ? '' : ''}`);
}

function routerReference(rounds = 5, iterations = 2_000_000): void {
  const router = FindMyWay();
  for (let i = 0; i < 10; i++) router.on('GET', `/svc${i}/*`, () => {});
  router.on('POST', '/v1/chat/completions', () => {});
  const results: number[] = [];
  let found = 0;
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) if (router.find('POST', '/v1/chat/completions')) found++;
    results.push(Number(process.hrtime.bigint() - start) / iterations);
  }
  results.sort((a, b) => a - b);
  console.log(`${'reference: find-my-way lookup, 11 routes'.padEnd(44)} ${results[Math.floor(rounds / 2)]!.toFixed(1).padStart(7)} ns/op${found ? '' : ' (no match?)'}`);
}

baseline();
routerReference();
measure('plain path /v1/chat/completions', '/v1/chat/completions');
measure('plain path with a query', '/v1/models/llama-3.1-70b/infer?stream=true&x=1');
measure('long plain path (200 chars)', '/v1/' + 'segment/'.repeat(24) + 'end');
measure('normalized: /public/a/./b/../c', '/public/a/./b/../c');
measure('normalized: %2e%2e and %7E escapes', '/public/%2e%2e/v1/%7Euser/x');
measure('absolute-form http://host/v1/x', 'http://api.example.com/v1/chat/completions');
measure('refused: /public/..%2fv1/x', '/public/..%2fv1/x');
