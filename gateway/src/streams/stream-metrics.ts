import { Counter, CounterFunction, GaugeFunction, type MetricsRegistry } from '../metrics/prometheus.js';

/** Per-stream facts the metrics read at scrape time. */
export interface StreamGauges {
  streams(): Iterable<{ name: string; listening: boolean; active: number; bytes: { in: number; out: number } }>;
}

/**
 * The counters a stream listener updates per connection (not per byte: bytes are read from the
 * sockets at scrape time), and the gauges read from the listeners.
 */
export class StreamCounters {
  private readonly connections: Counter;
  private readonly connectFailures: Counter;
  private readonly refusals: Counter;

  constructor(registry: MetricsRegistry, gauges: StreamGauges) {
    this.connections = registry.register(
      new Counter('switchboard_stream_connections_total', 'TCP stream connections joined to a target, by stream and target.'),
    );
    this.connectFailures = registry.register(
      new Counter('switchboard_stream_connect_failures_total', 'Connects from a stream to a target that were refused or timed out (another target is tried).'),
    );
    this.refusals = registry.register(
      new Counter('switchboard_stream_refused_total', 'Client connections a stream closed without a target, by reason (no-healthy-target, all-saturated, connect-failed, no-upstream).'),
    );
    registry.register(
      new GaugeFunction('switchboard_stream_active_connections', 'Client connections open on the stream now.', () =>
        [...gauges.streams()].map((s) => ({ labels: { stream: s.name }, value: s.active })),
      ),
    );
    registry.register(
      new GaugeFunction('switchboard_stream_listening', '1 when the stream is bound to its port, 0 when binding failed (retried).', () =>
        [...gauges.streams()].map((s) => ({ labels: { stream: s.name }, value: s.listening ? 1 : 0 })),
      ),
    );
    registry.register(
      new CounterFunction('switchboard_stream_received_bytes_total', 'Bytes received from clients on the stream.', () =>
        [...gauges.streams()].map((s) => ({ labels: { stream: s.name }, value: s.bytes.in })),
      ),
    );
    registry.register(
      new CounterFunction('switchboard_stream_sent_bytes_total', 'Bytes sent to clients on the stream.', () =>
        [...gauges.streams()].map((s) => ({ labels: { stream: s.name }, value: s.bytes.out })),
      ),
    );
  }

  connected(stream: string, target: string): void {
    this.connections.inc(`${stream}\0${target}`, () => ({ stream, target }));
  }

  connectFailed(stream: string, target: string): void {
    this.connectFailures.inc(`${stream}\0${target}`, () => ({ stream, target }));
  }

  refused(stream: string, reason: string): void {
    this.refusals.inc(`${stream}\0${reason}`, () => ({ stream, reason }));
  }
}
