import type { FastifyBaseLogger } from 'fastify';
import type { Stream } from '../../../spec/stream.js';
import type { UpstreamRegistry } from '../balancer/upstream-registry.js';
import type { MetricsRegistry } from '../metrics/prometheus.js';
import { StreamCounters } from './stream-metrics.js';
import { StreamListener } from './stream-listener.js';

export interface StreamSetOptions {
  upstreams: UpstreamRegistry;
  logger: FastifyBaseLogger;
  metrics: MetricsRegistry;
  /** Address a stream binds when it names none (HOST). */
  defaultHost: string;
  /** A connect to a target taking longer counts as failed, and the next target is tried. */
  connectTimeoutMs?: number;
  /** Connections of a removed stream still open after this long are closed. */
  drainGraceMs?: number;
}

/** What the health API and tests see of one stream. */
export interface StreamStatus {
  name: string;
  host: string;
  port: number;
  listening: boolean;
  activeConnections: number;
  lastError?: { message: string; at: string };
}

/**
 * The node's TCP listeners, one per enabled stream, kept in step with the configuration. Each
 * revision is diffed against the running set: a stream whose address did not change keeps its
 * listener and its open connections (a changed upstream, idle time or PROXY flag applies to new
 * connections); a removed or disabled stream stops accepting at once and its open connections
 * finish, or are closed after the drain grace; a changed port or host is a new listener, the old
 * one draining alike. Old listeners stop before new ones bind, so two streams may swap ports.
 */
export class StreamSet {
  private readonly listeners = new Map<string, StreamListener>();
  private readonly draining = new Set<StreamListener>();
  private readonly counters: StreamCounters;
  /** Closed (node stopping): a reload that lands after this opens nothing. */
  private closed = false;

  constructor(private readonly options: StreamSetOptions) {
    this.counters = new StreamCounters(options.metrics, {
      streams: () => [...this.listeners.values()].map((l) => ({ name: l.spec.name, listening: l.listening, active: l.activeConnections, bytes: l.bytes() })),
    });
  }

  /** Bring the listeners in line with `streams`; never throws (bind errors are per stream). */
  async apply(streams: readonly Stream[]): Promise<void> {
    if (this.closed) return;
    const wanted = new Map(streams.filter((s) => s.enabled !== false).map((s) => [s.name, s]));
    const opening: StreamListener[] = [];
    for (const [name, listener] of this.listeners) {
      const next = wanted.get(name);
      if (next !== undefined && sameAddress(listener, next, this.options.defaultHost)) {
        listener.spec = next;
        continue;
      }
      this.listeners.delete(name);
      this.retire(listener);
    }
    for (const [name, spec] of wanted) {
      if (this.listeners.has(name)) continue;
      const listener = new StreamListener(spec, {
        upstreams: this.options.upstreams,
        logger: this.options.logger,
        counters: this.counters,
        connectTimeoutMs: this.options.connectTimeoutMs ?? 5_000,
        defaultHost: this.options.defaultHost,
      });
      this.listeners.set(name, listener);
      opening.push(listener);
    }
    await Promise.all(opening.map((l) => l.listen()));
  }

  private retire(listener: StreamListener): void {
    this.draining.add(listener);
    this.options.logger.info({ stream: listener.spec.name, port: listener.port, open: listener.activeConnections }, 'stream removed; its open connections finish');
    void listener.close(this.options.drainGraceMs ?? 30_000).then(() => this.draining.delete(listener));
  }

  get(name: string): StreamListener | undefined {
    return this.listeners.get(name);
  }

  /** The bound servers, for a graceful stop (node/drain.ts). */
  servers() {
    return [...this.listeners.values()].filter((l) => l.listening).map((l) => l.server);
  }

  status(): StreamStatus[] {
    return [...this.listeners.values()].map((l) => ({
      name: l.spec.name,
      host: l.host,
      port: l.port,
      listening: l.listening,
      activeConnections: l.activeConnections,
      ...(l.lastError ? { lastError: l.lastError } : {}),
    }));
  }

  /** Stop every listener; open connections get `graceMs` (0 = closed now). */
  async close(graceMs = 0): Promise<void> {
    this.closed = true;
    const all = [...this.listeners.values(), ...this.draining];
    this.listeners.clear();
    await Promise.all(all.map((l) => l.close(graceMs)));
  }
}

function sameAddress(listener: StreamListener, next: Stream, defaultHost: string): boolean {
  return listener.spec.port === next.port && (listener.spec.host ?? defaultHost) === (next.host ?? defaultHost);
}
