import type { UpstreamRegistry } from '../balancer/upstream-registry.js';
import type { FlowStats } from '../balancer/flow-queue.js';
import { CounterFunction, GaugeFunction, type MetricsRegistry } from './prometheus.js';

/** The consumer label of requests without a consumer (routes without auth). */
export const ANONYMOUS = 'anonymous';

/**
 * Flow-control metrics, per upstream with a `queue` and per consumer, read from the pools' queues
 * at scrape time: the proxy does no metrics work while a request waits. Wait time is a sum of
 * seconds beside the count of waits that ended (rate(sum) / rate(count) = mean wait), the way a
 * Prometheus summary without quantiles is read. Pools without `queue` add no series.
 */
export function registerQueueMetrics(registry: MetricsRegistry, upstreams: UpstreamRegistry): void {
  const perFlow = function* (value: (s: Readonly<FlowStats>) => number) {
    for (const pool of upstreams.all()) {
      const queue = pool.queue;
      if (queue === undefined) continue;
      for (const [flow, stats] of queue.flows()) yield { labels: { upstream: pool.name, consumer: flow || ANONYMOUS }, value: value(stats) };
    }
  };
  registry.register(
    new GaugeFunction('switchboard_upstream_queue_depth', 'Requests waiting in the upstream’s queue for a free target, by consumer.', () =>
      perFlow((s) => s.waiting),
    ),
  );
  registry.register(
    new GaugeFunction('switchboard_upstream_queue_oldest_wait_seconds', 'How long the request waiting longest in the upstream’s queue has waited.', function* () {
      for (const pool of upstreams.all()) if (pool.queue !== undefined) yield { labels: { upstream: pool.name }, value: pool.queue.oldestWaitMs() / 1000 };
    }),
  );
  registry.register(
    new CounterFunction('switchboard_upstream_queue_wait_seconds_total', 'Seconds spent waiting in the upstream’s queue by requests whose wait ended, by consumer.', () =>
      perFlow((s) => s.waitSeconds),
    ),
  );
  registry.register(
    new CounterFunction(
      'switchboard_upstream_queue_requests_total',
      'Waits in the upstream’s queue that ended, by consumer and outcome (released to a target; refused: full, timeout; cancelled by the client).',
      function* () {
        for (const outcome of ['released', 'full', 'timeout', 'cancelled'] as const)
          for (const { labels, value } of perFlow((s) =>
            outcome === 'released' ? s.released : outcome === 'full' ? s.refusedFull : outcome === 'timeout' ? s.refusedTimeout : s.cancelled,
          ))
            yield { labels: { ...labels, outcome }, value };
      },
    ),
  );
}
