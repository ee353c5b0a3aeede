import { formatTracingCost, measureTracingCost } from '../tracing/tracing-cost.js';
import { writeResults } from './report.js';

/** `npm run bench -- tracing`: what OpenTelemetry tracing costs per request, off and on, in one run. */
export const tracingBenchmark = {
  summary: 'tracing cost: gateway CPU per request with tracing off, on and exported (OTLP/HTTP), on with always_off',
  // 3 gateways × (5 000 warm-up + 5 × 10 000) requests; a loaded 2-core machine does ≈ 1 000 req/s.
  budgetSeconds: () => 300,
  async run(): Promise<void> {
    const cost = await measureTracingCost();
    process.stdout.write(`\n${formatTracingCost(cost)}\n`);
    for (const file of writeResults('tracing', cost)) process.stdout.write(`  wrote ${file}\n`);
  },
};
