import { EventEmitter } from 'node:events';
import type { Upstream } from '../../../spec/upstream.js';
import { createHash } from 'node:crypto';
import type { Certificate } from '../../../spec/certificate.js';
import type { TargetRegistry, TlsIdentity } from './target-registry.js';
import { UpstreamPool } from './upstream-pool.js';

/** Pools for a new revision, not yet in force: commit when the generation is live, else roll back. */
export interface PoolPlan {
  readonly pools: ReadonlyMap<string, UpstreamPool>;
  commit(): void;
  rollback(): void;
}

/**
 * The pools of the running configuration, by upstream name. Lives outside generations: a new
 * revision that leaves an upstream untouched keeps its pool object (and so its picker state,
 * e.g. the round-robin cursor or a hash ring); a changed upstream gets a new pool over the same
 * shared targets, so health and connections carry over either way.
 *
 * Events, for any number of subscribers (health checking, outlier detection, metrics):
 * 'pool-created' (pool) when a new pool comes into force, before the pools it replaces are
 * closed, so shared targets never drop to zero references in between; 'pool-closed' (pool)
 * just before a retired pool releases its targets. The single-slot hooks are called as well.
 */
export class UpstreamRegistry extends EventEmitter {
  private pools = new Map<string, { json: string; pool: UpstreamPool }>();
  /** Called for each pool created, so health checking and metrics can attach to it. */
  onPoolCreated: ((pool: UpstreamPool) => void) | undefined;
  onPoolClosed: ((pool: UpstreamPool) => void) | undefined;

  constructor(readonly targets: TargetRegistry) {
    super();
  }

  /**
   * Build the pools `upstreams` needs, reusing unchanged ones. Nothing already in force is
   * closed until `commit()`, so a revision that fails to compile leaves the running one intact.
   */
  plan(upstreams: readonly Upstream[], certificates: readonly Certificate[] = []): PoolPlan {
    const next = new Map<string, { json: string; pool: UpstreamPool }>();
    const created: UpstreamPool[] = [];
    /** Target URLs the pool being replaced had, per replacement pool. */
    const previousUrls = new Map<UpstreamPool, Set<string>>();
    for (const spec of upstreams) {
      const { id: _id, version: _v, createdAt: _c, updatedAt: _u, ...shape } = spec;
      const tls = tlsIdentity(spec, certificates);
      // A renewed client certificate changes the digest, so the pool (and its connections) is rebuilt.
      const json = JSON.stringify(shape) + (tls ? `#${tls.digest}` : '');
      const current = this.pools.get(spec.name);
      if (current && current.json === json) {
        next.set(spec.name, current);
        continue;
      }
      const pool = new UpstreamPool(spec, this.targets, tls);
      // Draining set through the admin API survives an edit of the upstream.
      if (current)
        for (const [url, draining] of current.pool.drainOverrides) if (draining) pool.setDraining(url, true);
      created.push(pool);
      if (current) previousUrls.set(pool, new Set(current.pool.members.map((m) => m.target.url)));
      next.set(spec.name, { json, pool });
    }
    let settled = false;
    return {
      pools: new Map([...next].map(([n, v]) => [n, v.pool])),
      commit: () => {
        if (settled) return;
        settled = true;
        const inUse = new Set([...next.values()].map((v) => v.pool));
        const retired = [...this.pools.values()].map((v) => v.pool).filter((p) => !inUse.has(p));
        this.pools = next;
        for (const pool of created) {
          this.onPoolCreated?.(pool);
          this.emit('pool-created', pool);
        }
        warmUpNewTargets(previousUrls, this.targets);
        // Retire after the new pools hold their references, so shared targets are not released.
        for (const pool of retired) {
          this.onPoolClosed?.(pool);
          this.emit('pool-closed', pool);
          pool.close();
        }
      },
      rollback: () => {
        if (settled) return;
        settled = true;
        for (const pool of created) pool.close();
      },
    };
  }

  /** Plan and commit at once (tests, tools). */
  apply(upstreams: readonly Upstream[]): ReadonlyMap<string, UpstreamPool> {
    const plan = this.plan(upstreams);
    plan.commit();
    return plan.pools;
  }

  /**
   * Follow the pools: `created` for every pool in force now and each one a reload creates,
   * `closed` for each one a reload retires. Returns the way to stop following.
   */
  follow(handlers: { created: (pool: UpstreamPool) => void; closed: (pool: UpstreamPool) => void }): () => void {
    this.on('pool-created', handlers.created);
    this.on('pool-closed', handlers.closed);
    for (const pool of this.all()) handlers.created(pool);
    return () => {
      this.off('pool-created', handlers.created);
      this.off('pool-closed', handlers.closed);
    };
  }

  get(name: string): UpstreamPool | undefined {
    return this.pools.get(name)?.pool;
  }

  all(): UpstreamPool[] {
    return [...this.pools.values()].map((v) => v.pool);
  }

  close(): void {
    for (const { pool } of this.pools.values()) {
      this.onPoolClosed?.(pool);
      this.emit('pool-closed', pool);
      pool.close();
    }
    this.pools.clear();
  }
}

/**
 * A worker added to a running pool by a reload starts cold (Envoy applies slow start to newly
 * added hosts): mark it recovered now, so a pool with `slowStartMs` ramps it from 10 %. Only
 * targets no other pool already knew: a worker that was serving elsewhere is warm.
 */
function warmUpNewTargets(previousUrls: ReadonlyMap<UpstreamPool, Set<string>>, targets: TargetRegistry): void {
  const now = Date.now();
  for (const [pool, before] of previousUrls) {
    if (!(pool.spec.slowStartMs ?? 0)) continue;
    for (const m of pool.members) {
      const entry = targets.get(m.target.url);
      if (before.has(m.target.url) || !entry || entry.refs !== 1 || m.target.requests !== 0) continue;
      m.target.recoveredAt = now;
      m.target.changed();
    }
  }
}

/** An upstream's `tls` with the named certificate's PEMs; throws (the revision does not compile) if it names none. */
function tlsIdentity(spec: Upstream, certificates: readonly Certificate[]): TlsIdentity | undefined {
  const tls = spec.tls;
  if (tls === undefined) return undefined;
  let cert: Certificate | undefined;
  if (tls.clientCertificate !== undefined) {
    cert = certificates.find((c) => c.name === tls.clientCertificate);
    if (cert === undefined || cert.key === undefined)
      throw Object.assign(new Error(`upstream "${spec.name}": tls.clientCertificate names no stored certificate with a key ("${tls.clientCertificate}")`), { field: '/upstreams' });
  }
  const digest = createHash('sha256').update(cert?.cert ?? '').update('\0').update(cert?.key ?? '').update('\0').update(tls.ca ?? '').digest('base64');
  return { cert: cert?.cert, key: cert?.key, ca: tls.ca, digest };
}
