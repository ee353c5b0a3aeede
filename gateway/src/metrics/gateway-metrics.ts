import type { UpstreamRegistry } from '../balancer/upstream-registry.js';
import type { RequestObserver } from '../contracts/request-observer.js';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { Counter, CounterFunction, GaugeFunction, Histogram, MetricsRegistry } from './prometheus.js';
import { TrafficWindow } from './traffic-window.js';
import { registerQueueMetrics } from './queue-metrics.js';

/** Latency buckets in seconds, from cache hits to long generations. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** The metrics of the contract, fed by the proxy and read from the pools at scrape time. */
export class GatewayMetrics implements RequestObserver {
  readonly registry = new MetricsRegistry();
  readonly requests = this.registry.register(new Counter('switchboard_requests_total', 'Requests answered, by route and status.'));
  readonly duration = this.registry.register(
    new Histogram('switchboard_request_duration_seconds', 'Time from request to the end of the response, by route.', DURATION_BUCKETS),
  );
  /** The console overview's last 15 minutes per route (admin GET /api/v1/overview). */
  readonly traffic = new TrafficWindow();
  readonly rateLimited = this.registry.register(new Counter('switchboard_ratelimit_rejected_total', 'Requests refused by a rate limit or quota, by route.'));
  readonly fallbacks = this.registry.register(new Counter('switchboard_fallbacks_total', "Requests sent on to a route's next fallback pool, by route and pools."));

  constructor(upstreams: UpstreamRegistry) {
    const perTarget = function* (value: (t: import('../balancer/target-state.js').TargetState, upstream: string) => number) {
      for (const pool of upstreams.all())
        for (const m of pool.members) yield { labels: { upstream: pool.name, target: m.target.url }, value: value(m.target, pool.name) };
    };
    this.registry.register(
      new GaugeFunction('switchboard_upstream_target_healthy', '1 when the target may receive requests (healthy and not ejected).', () =>
        perTarget((t) => (t.isUp() ? 1 : 0)),
      ),
    );
    this.registry.register(
      new GaugeFunction('switchboard_upstream_target_inflight', 'Requests in flight to the target.', () => perTarget((t) => t.inFlight)),
    );
    this.registry.register(
      new GaugeFunction('switchboard_upstream_target_ejections', 'Passive-health ejections of the target so far (decays after clean periods).', () =>
        perTarget((t) => t.ejections),
      ),
    );
    this.registry.register(
      new CounterFunction('switchboard_upstream_target_requests_total', 'Attempts sent to the target since the gateway started.', () =>
        perTarget((t) => t.requests),
      ),
    );
    this.registry.register(
      new GaugeFunction('switchboard_upstream_target_latency_seconds', 'Smoothed (peak-EWMA) response latency of the target.', () =>
        perTarget((t) => t.ewmaMs / 1000),
      ),
    );
    registerQueueMetrics(this.registry, upstreams);
  }

  completed(route: string, status: number, durationMs: number): void {
    this.traffic.record(route, status, durationMs);
    const key = route + '\u0000' + status;
    this.requests.inc(key, () => ({ route, status: String(status) }));
    this.duration.observe(route, () => ({ route }), durationMs / 1000);
  }

  fellBack(route: string, from: string, to: string): void {
    this.fallbacks.inc(route + '\u0000' + from + '\u0000' + to, () => ({ route, from, to }));
  }

  /** The gateway's own metrics (synchronous; what tests read). */
  render(): string {
    return this.registry.render();
  }

  /** What GET /metrics serves: the gateway's metrics, then the process' (prom-client's defaults). */
  async scrape(): Promise<string> {
    return this.render() + (await processMetrics().metrics());
  }
}

let processRegistry: Registry | undefined;

/**
 * prom-client's default collectors — process_cpu_seconds_total, process_resident_memory_bytes,
 * open fds, nodejs_heap_*, GC and event-loop-lag histograms — under the names every Node
 * dashboard knows. They read the process at scrape time or hear from V8's own observers, so
 * they cost nothing per request; the gateway's per-request metrics stay hand-written (see
 * prometheus.ts). One set per process, however many nodes (tests) it runs.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
    // Gauges whose names end in _total, which promtool (rightly) refuses; the same values remain
    // as nodejs_active_handles, nodejs_active_requests and nodejs_active_resources.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'])
      processRegistry.removeSingleMetric(name);
  }
  return processRegistry;
}
