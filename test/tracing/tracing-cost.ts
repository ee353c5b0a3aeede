/**
 * What tracing costs per request: the same GET through three gateways side by side in one run,
 * each alone in a child process so only its CPU is counted — tracing off (no OTLP endpoint),
 * on with every request sampled and exported (OTLP/HTTP JSON to a receiver in this process), and
 * on with `always_off` (trace context continued upstream, nothing recorded).
 *
 *   node_modules/.bin/node dist/test/tracing/tracing-cost.js    (or: npm run bench -- tracing)
 */
import { fileURLToPath } from 'node:url';
import { OtelRequestTracer } from '../../gateway/src/tracing/otel-tracer.js';
import { readTracingSettings } from '../../gateway/src/tracing/tracing-settings.js';
import { answerCpuProbes, cpuPerRequestRounds, forkCpuChild, median, type CpuChild } from '../helpers/cpu-child.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import { startGateway } from '../helpers/gateway.js';
import { startOtlpReceiver } from './otlp-receiver.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

async function serve(upstreamUrl: string, otlp: string, sampler: string): Promise<void> {
  const settings = otlp === 'off' ? undefined : readTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp, OTEL_TRACES_SAMPLER: sampler });
  const tracer = settings && new OtelRequestTracer(settings);
  const gw = await startGateway(
    { upstreams: [{ name: 'echo', targets: [{ url: upstreamUrl }] }], routes: [{ name: 'plain', methods: ['GET'], paths: ['/plain'], upstream: 'echo' }], consumers: [] },
    { tracer },
  );
  answerCpuProbes(gw, { url: gw.url });
}

interface Child {
  name: string;
  url: string;
  gateway: CpuChild<{ url: string }>;
}

async function start(name: string, upstream: string, otlp: string, sampler: string): Promise<Child> {
  const gateway = await forkCpuChild<{ url: string }>(fileURLToPath(import.meta.url), ['serve', upstream, otlp, sampler]);
  return { name, url: gateway.hello.url, gateway };
}

export interface TracingCost {
  /** µs of gateway CPU per request, median of 5 rounds, per variant. */
  variants: Array<{ name: string; cpuMicrosPerRequest: number; rounds: number[] }>;
  spansReceived: number;
}

export async function measureTracingCost(): Promise<TracingCost> {
  const upstream = await startEchoUpstream('echo');
  upstream.handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
    res.end('{}');
    return true;
  };
  const receiver = await startOtlpReceiver();
  const gateways = [
    await start('tracing off', upstream.url, 'off', ''),
    await start('tracing on, every request exported', upstream.url, receiver.url, 'always_on'),
    await start('tracing on, sampler always_off', upstream.url, receiver.url, 'always_off'),
  ];
  const rounds = await cpuPerRequestRounds(gateways.map((g) => ({ name: g.name, cpu: g.gateway.cpu, request: { url: g.url + '/plain', headers: { traceparent: TRACEPARENT } } })));
  const result: TracingCost = {
    variants: gateways.map((g, i) => ({ name: g.name, cpuMicrosPerRequest: median(rounds[i]!), rounds: rounds[i]! })),
    spansReceived: receiver.spans.length,
  };
  for (const g of gateways) g.gateway.exit();
  await upstream.close();
  await receiver.close();
  return result;
}

export function formatTracingCost(cost: TracingCost): string {
  const base = cost.variants[0]!.cpuMicrosPerRequest;
  const lines = ['gateway CPU per request (median of 5 rounds × 10 000 GETs with a traceparent, 16 connections)'];
  for (const [i, v] of cost.variants.entries()) {
    const m = v.cpuMicrosPerRequest;
    lines.push(`  ${v.name.padEnd(38)} ${m.toFixed(1)} µs${i === 0 ? '' : `   (${(m / base).toFixed(2)}×, +${(m - base).toFixed(1)} µs)`}`);
  }
  lines.push(`  spans received by the OTLP receiver: ${cost.spansReceived}`);
  return lines.join('\n');
}

if (process.argv[2] === 'serve') void serve(process.argv[3]!, process.argv[4]!, process.argv[5]!);
else if (process.argv[1] === fileURLToPath(import.meta.url)) void measureTracingCost().then((cost) => console.log(formatTracingCost(cost)));
