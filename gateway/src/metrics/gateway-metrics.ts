import type { UpstreamRegistry } from '../balancer/upstream-registry.js';
import type { RequestObserver } from '../generation/request-observer.js';
import { Counter, GaugeFunction, Histogram, MetricsRegistry } from './prometheus.js';
import { TrafficWindow } from './traffic-window.js';

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
      new GaugeFunction('switchboard_upstream_target_requests', 'Attempts sent to the target since the gateway started (a counter read at scrape time).', () =>
        perTarget((t) => t.requests),
      ),
    );
    this.registry.register(
      new GaugeFunction('switchboard_upstream_target_latency_seconds', 'Smoothed (peak-EWMA) response latency of the target.', () =>
        perTarget((t) => t.ewmaMs / 1000),
      ),
    );
    this.registerProcessMetrics();
  }

  /** Process gauges (Prometheus' conventional names), read at scrape time. */
  private registerProcessMetrics(): void {
    this.registry.register(
      new GaugeFunction('process_resident_memory_bytes', 'Resident set size of the gateway process.', () => [{ labels: {}, value: process.memoryUsage.rss() }]),
    );
    this.registry.register(
      new GaugeFunction('nodejs_heap_used_bytes', 'V8 heap in use.', () => [{ labels: {}, value: process.memoryUsage().heapUsed }]),
    );
    this.registry.register(
      new GaugeFunction('process_cpu_seconds_total', 'User and system CPU time of the gateway process.', () => {
        const { user, system } = process.cpuUsage();
        return [{ labels: {}, value: (user + system) / 1e6 }];
      }),
    );
  }

  completed(route: string, status: number, durationMs: number): void {
    this.traffic.record(route, status, durationMs);
    const key = route + '\u0000' + status;
    this.requests.inc(key, () => ({ route, status: String(status) }));
    this.duration.observe(route, () => ({ route }), durationMs / 1000);
  }

  render(): string {
    return this.registry.render();
  }
}
