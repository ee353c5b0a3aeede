import { Pool } from 'undici';
import type { UpstreamProtocol } from '../../../spec/upstream.js';
import { TargetState, targetKey } from './target-state.js';

/** A target's shared state and its keep-alive connection pool. */
export interface TargetEntry {
  readonly state: TargetState;
  readonly dispatcher: Pool;
  /** HTTP/2 connections (upstream `protocol` h2 or h2c), made when a pool first asks for them. */
  h2?: Pool | undefined;
  /** Connections carrying a TLS identity (upstream `tls`: client certificate, CA), one pool per identity and protocol, with how many upstream pools use it. */
  withTls?: Map<string, { pool: Pool; refs: number }> | undefined;
  /** How many upstream pools list this target; released at zero. */
  refs: number;
}

/** What an upstream's `tls` resolves to: the PEMs (the key from the certificates collection) and their digest. */
export interface TlsIdentity {
  cert?: string | undefined;
  key?: string | undefined;
  ca?: string | undefined;
  digest: string;
}

/** The connect options that present an upstream's TLS identity: its client certificate and its CA. Traffic and active probes use the same. */
export function tlsConnectOptions(tls: TlsIdentity | undefined): { cert?: string; key?: string; ca?: string } {
  if (tls === undefined) return {};
  return { ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}), ...(tls.ca ? { ca: tls.ca } : {}) };
}

function identityKey(protocol: UpstreamProtocol | undefined, tls: TlsIdentity): string {
  return `${protocol ?? 'http1'}#${tls.digest}`;
}

export interface TargetRegistryOptions {
  connectTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
}

/**
 * One entry per distinct worker URL for the whole process. Entries survive configuration
 * generations, so a reload keeps warm connections, health verdicts and latency history; an
 * entry is dropped only when no pool lists the target any more.
 */
export class TargetRegistry {
  private readonly entries = new Map<string, TargetEntry>();

  constructor(private readonly options: TargetRegistryOptions = {}) {}

  acquire(url: string): TargetEntry {
    const key = targetKey(url);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = {
        state: new TargetState(key),
        dispatcher: new Pool(key, {
          // No cap on connections: GPU streams are long, and a pool smaller than the peak
          // concurrency makes requests wait behind each other inside the gateway. The
          // per-target circuit breaker (maxConnections) is what limits load, visibly.
          connections: null,
          pipelining: 1,
          keepAliveTimeout: this.options.keepAliveTimeoutMs ?? 30_000,
          keepAliveMaxTimeout: 600_000,
          connect: { timeout: this.options.connectTimeoutMs ?? 5_000 },
        }),
        refs: 0,
      };
      this.entries.set(key, entry);
    }
    entry.refs++;
    return entry;
  }

  /**
   * An upstream pool stops listing the target; `protocol` and `tls` are what it asked
   * `dispatcherFor` with. Connections under a TLS identity no pool presents any more (a renewed
   * client certificate, a changed CA) close even while the target stays listed, so nothing keeps
   * talking under a replaced certificate.
   */
  release(url: string, protocol?: UpstreamProtocol, tls?: TlsIdentity): void {
    const key = targetKey(url);
    const entry = this.entries.get(key);
    if (!entry) return;
    if (tls !== undefined) {
      const tlsKey = identityKey(protocol, tls);
      const held = entry.withTls?.get(tlsKey);
      if (held !== undefined && --held.refs === 0) {
        entry.withTls!.delete(tlsKey);
        // Let in-flight requests finish before the connections go.
        held.pool.close().catch(() => {});
      }
    }
    if (--entry.refs > 0) return;
    this.entries.delete(key);
    entry.state.emit('released', entry.state);
    entry.dispatcher.close().catch(() => {});
    entry.h2?.close().catch(() => {});
    for (const held of entry.withTls?.values() ?? []) held.pool.close().catch(() => {});
  }

  /**
   * The connection pool a pool of `protocol` sends through. HTTP/2 ones are undici's own client
   * (`allowH2`; h2c with prior knowledge through `useH2c`): one session multiplexes the
   * requests, more sessions open past its concurrent-stream limit. A target is one protocol; the
   * first pool to ask fixes which HTTP/2 flavour its sessions use (the scheme decides anyway).
   */
  dispatcherFor(entry: TargetEntry, protocol: UpstreamProtocol | undefined, tls?: TlsIdentity): Pool {
    if (tls !== undefined) return this.tlsDispatcher(entry, protocol, tls);
    if (protocol === undefined || protocol === 'http1') return entry.dispatcher;
    entry.h2 ??= new Pool(entry.state.url, {
      connections: null,
      allowH2: true,
      // The Pool builds the connector itself and reads useH2c at the top level (undici 8).
      ...(protocol === 'h2c' ? { useH2c: true } : {}),
      keepAliveTimeout: this.options.keepAliveTimeoutMs ?? 30_000,
      keepAliveMaxTimeout: 600_000,
      connect: { timeout: this.options.connectTimeoutMs ?? 5_000 },
    } as Pool.Options);
    return entry.h2;
  }

  /**
   * An upstream that presents a client certificate (or trusts a private CA) gets connections of
   * its own: a TLS session belongs to one identity, so sharing the target's pool with upstreams
   * that present none (or another) would send requests under the wrong certificate.
   * Each call is one reference, given back by `release` with the same identity.
   */
  private tlsDispatcher(entry: TargetEntry, protocol: UpstreamProtocol | undefined, tls: TlsIdentity): Pool {
    const key = identityKey(protocol, tls);
    entry.withTls ??= new Map();
    let held = entry.withTls.get(key);
    if (held === undefined) {
      const h2 = protocol === 'h2' || protocol === 'h2c';
      const pool = new Pool(entry.state.url, {
        connections: null,
        ...(h2 ? { allowH2: true, ...(protocol === 'h2c' ? { useH2c: true } : {}) } : { pipelining: 1 }),
        keepAliveTimeout: this.options.keepAliveTimeoutMs ?? 30_000,
        keepAliveMaxTimeout: 600_000,
        connect: { timeout: this.options.connectTimeoutMs ?? 5_000, ...tlsConnectOptions(tls) },
      } as Pool.Options);
      held = { pool, refs: 0 };
      entry.withTls.set(key, held);
    }
    held.refs++;
    return held.pool;
  }

  get(url: string): TargetEntry | undefined {
    return this.entries.get(targetKey(url));
  }

  all(): IterableIterator<TargetEntry> {
    return this.entries.values();
  }

  async close(): Promise<void> {
    const closing = [...this.entries.values()].flatMap((e) => [e.dispatcher.destroy().catch(() => {}), e.h2?.destroy().catch(() => {}), ...[...(e.withTls?.values() ?? [])].map((h) => h.pool.destroy().catch(() => {}))]);
    this.entries.clear();
    await Promise.all(closing);
  }
}
