/**
 * OpenTelemetry's SDK and OTLP exporter (≈ 3 MB of heap, ≈ 2 MiB of RSS and 0.8 MB of source)
 * load only when tracing is on: a node without OTEL_EXPORTER_OTLP_ENDPOINT never imports them,
 * and `npm start` with it set still exports a request's spans.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { replaceConfig } from '../../gateway/src/config/replace-config.js';
import { openStore } from '../../gateway/src/store/open-store.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGatewayProcess } from '../helpers/gateway-process.js';
import { startOtlpReceiver } from './otlp-receiver.js';

const dist = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));

/**
 * In a child (this test process has OpenTelemetry loaded already): a resolve hook writes every
 * module URL to a file, then everything a gateway process imports is imported.
 */
const PROBE = `
import { register } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
const log = process.env.PROBE_LOG;
writeFileSync(log, '');
register('data:text/javascript,' + encodeURIComponent(\`
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(\${JSON.stringify(log)}, resolved.url + '\\\\n');
  return resolved;
}\`));
const loaded = () => readFileSync(log, 'utf8').split('\\n').filter((u) => u.includes('/node_modules/@opentelemetry/'));
await import(${JSON.stringify(dist('gateway/src/cluster/run-gateway.js'))});
const withoutTracing = loaded().length;
await import(${JSON.stringify(dist('gateway/src/tracing/otel-tracer.js'))});
console.log(JSON.stringify({ withoutTracing, withTracer: loaded().length > 0 }));
`;

test('a gateway process without tracing imports no OpenTelemetry module', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-otel-lazy-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, PROBE_LOG: join(dir, 'resolved.txt') },
  });
  // withTracer: the hook sees the SDK once the tracer module is imported, so the first count means something.
  assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1)!), { withoutTracing: 0, withTracer: true });
});

test('npm start with OTEL_EXPORTER_OTLP_ENDPOINT exports the server span of a request', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-otel-start-'));
  const upstream = await startEchoUpstream('echo');
  const receiver = await startOtlpReceiver();
  const storeUrl = `file:${join(dir, 'store.json')}`;
  const store = await openStore(storeUrl);
  await replaceConfig(store, { upstreams: [{ name: 'echo', targets: [{ url: upstream.url }] }], routes: [{ name: 'open', methods: ['GET'], paths: ['/open/*'], upstream: 'echo' }] }, 'test');
  await store.close();
  const gw = await startGatewayProcess(storeUrl, { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SERVICE_NAME: 'lazy-otel-test' });
  t.after(async () => {
    await gw.stop();
    await receiver.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const res = await fetch(`${gw.publicUrl}/open/x`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
  const deadline = Date.now() + 15_000;
  while (!receiver.spans.some((s) => s.traceId === traceId && s.kind === 2) && Date.now() < deadline) await sleep(100);
  const server = receiver.spans.find((s) => s.traceId === traceId && s.kind === 2);
  assert.ok(server, `no server span in trace ${traceId}; received ${receiver.spans.length} spans`);
  assert.equal(server.service, 'lazy-otel-test');
});
