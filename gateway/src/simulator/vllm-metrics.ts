/**
 * The worker's Prometheus exposition, under vLLM's metric names so that whatever reads a real
 * vLLM server (the gateway's least-queue picker, a Grafana board) reads the simulator unchanged.
 * Text format 0.0.4: https://prometheus.io/docs/instrumenting/exposition_formats/
 */

export interface QueueSnapshot {
  readonly model: string;
  readonly running: number;
  readonly waiting: number;
  readonly slots: number;
  readonly succeeded: number;
  /** Prompt tokens looked up in the prefix cache, and found there (0 and 0 without a cache). */
  readonly prefixCacheQueries?: number;
  readonly prefixCacheHits?: number;
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function renderVllmMetrics(snapshot: QueueSnapshot): string {
  const label = `{model_name="${escapeLabelValue(snapshot.model)}"}`;
  // With no real KV cache, the share of busy slots stands in for it: both reach 1 exactly when
  // the server cannot take another sequence without queueing it.
  const cacheUsage = snapshot.slots > 0 ? Math.min(1, snapshot.running / snapshot.slots) : 1;
  const families: Array<[name: string, type: 'gauge' | 'counter', help: string, value: number]> = [
    ['vllm:num_requests_running', 'gauge', 'Number of requests currently running on GPU.', snapshot.running],
    ['vllm:num_requests_waiting', 'gauge', 'Number of requests waiting to be processed.', snapshot.waiting],
    ['vllm:kv_cache_usage_perc', 'gauge', 'KV-cache usage. 1 means 100 percent usage.', cacheUsage],
    // vLLM's name before 0.10; older dashboards and scrapers still ask for it.
    ['vllm:gpu_cache_usage_perc', 'gauge', 'GPU KV-cache usage. 1 means 100 percent usage.', cacheUsage],
    ['vllm:request_success_total', 'counter', 'Count of successfully processed requests.', snapshot.succeeded],
    // vLLM V1's prefix-cache counters (tokens); hit rate = rate(hits) / rate(queries).
    ['vllm:prefix_cache_queries_total', 'counter', 'Prefix cache queries, in terms of number of queried tokens.', snapshot.prefixCacheQueries ?? 0],
    ['vllm:prefix_cache_hits_total', 'counter', 'Prefix cache hits, in terms of number of cached tokens.', snapshot.prefixCacheHits ?? 0],
  ];
  let text = '';
  for (const [name, type, help, value] of families) {
    text += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}${label} ${value}\n`;
  }
  return text;
}

function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}
