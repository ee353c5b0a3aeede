import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { aggregateScrapes } from '../../gateway/src/metrics/aggregate-scrapes.js';
import { Counter, GaugeFunction, Histogram, MetricsRegistry } from '../../gateway/src/metrics/prometheus.js';

/** One worker's registry as the gateway builds it (metrics/prometheus.ts). */
function workerScrape(requests: number, latencies: number[], inflight: number): string {
  const registry = new MetricsRegistry();
  const counter = registry.register(new Counter('switchboard_requests_total', 'Requests answered.'));
  counter.inc('r200', () => ({ route: 'chat', status: '200' }), requests);
  const histogram = registry.register(new Histogram('switchboard_request_duration_seconds', 'Duration.', [0.1, 1]));
  for (const l of latencies) histogram.observe('chat', () => ({ route: 'chat' }), l);
  registry.register(new GaugeFunction('switchboard_upstream_target_inflight', 'In flight.', () => [{ labels: { upstream: 'u', target: 'http://t' }, value: inflight }]));
  registry.register(new GaugeFunction('process_resident_memory_bytes', 'RSS.', () => [{ labels: {}, value: 100 + inflight }]));
  return registry.render();
}

function promtool(text: string): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => resolve(err ? `${stdout}${stderr}` : 'ok'));
    child.stdin!.end(text);
  });
}

test('merged worker scrapes sum counters and histogram buckets, keep gauges per worker, and pass promtool', async () => {
  const merged = aggregateScrapes([
    { worker: 1, text: workerScrape(3, [0.05, 0.5], 2) },
    { worker: 2, text: workerScrape(4, [0.05, 5], 1) },
  ]);
  assert.match(merged, /^switchboard_requests_total\{route="chat",status="200"\} 7$/m);
  assert.match(merged, /^switchboard_request_duration_seconds_bucket\{route="chat",le="0.1"\} 2$/m);
  assert.match(merged, /^switchboard_request_duration_seconds_bucket\{route="chat",le="1"\} 3$/m);
  assert.match(merged, /^switchboard_request_duration_seconds_bucket\{route="chat",le="\+Inf"\} 4$/m);
  assert.match(merged, /^switchboard_request_duration_seconds_count\{route="chat"\} 4$/m);
  assert.match(merged, /^switchboard_request_duration_seconds_sum\{route="chat"\} 5.6$/m);
  assert.match(merged, /^switchboard_upstream_target_inflight\{worker="1",upstream="u",target="http:\/\/t"\} 2$/m);
  assert.match(merged, /^switchboard_upstream_target_inflight\{worker="2",upstream="u",target="http:\/\/t"\} 1$/m);
  assert.match(merged, /^process_resident_memory_bytes\{worker="2"\} 101$/m);
  assert.equal(merged.match(/^# TYPE switchboard_requests_total counter$/gm)?.length, 1, 'one TYPE line per family');
  assert.equal(await promtool(merged), 'ok');
});

test('a family only one worker has so far (a route first hit there) is merged, not dropped', () => {
  const merged = aggregateScrapes([
    { worker: 1, text: '# HELP a_total A.\n# TYPE a_total counter\na_total{route="x"} 1\n' },
    { worker: 2, text: '# HELP a_total A.\n# TYPE a_total counter\na_total{route="y"} 2\n# HELP b_total B.\n# TYPE b_total counter\nb_total 5\n' },
  ]);
  assert.equal(merged, '# HELP a_total A.\n# TYPE a_total counter\na_total{route="x"} 1\na_total{route="y"} 2\n# HELP b_total B.\n# TYPE b_total counter\nb_total 5\n');
});
