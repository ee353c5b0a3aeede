import type { PoolMember } from '../balancer/picker.js';
import type { AttemptOutcome, UpstreamPool } from '../balancer/upstream-pool.js';
import type { UpstreamRegistry } from '../balancer/upstream-registry.js';
import type { TargetState } from '../balancer/target-state.js';

/** `healthCheck.passive` with every default filled in. */
export interface PassiveConfig {
  consecutiveFailures: number;
  ejectMs: number;
  maxEjectMs: number;
  maxEjectionPercent: number;
  failOn: readonly number[];
}

export function passiveConfigOf(pool: UpstreamPool): PassiveConfig | undefined {
  const p = pool.spec.healthCheck?.passive;
  if (!p) return undefined;
  return {
    consecutiveFailures: p.consecutiveFailures ?? 5,
    ejectMs: p.ejectMs ?? 30_000,
    maxEjectMs: p.maxEjectMs ?? 300_000,
    maxEjectionPercent: p.maxEjectionPercent ?? 50,
    failOn: p.failOn ?? [500, 502, 503, 504],
  };
}

/**
 * Passive health (Envoy's outlier detection, consecutive-errors flavour) for one pool, fed by
 * every attempt's outcome through `pool.onOutcome`.
 *
 * A failure is a connect error, a timeout, an exchange reset midway (a worker that dies under a
 * stream) or a status in `failOn`; anything else is a success and clears the count. The count
 * lives on the shared TargetState, so failures seen through any pool add up.
 * `consecutiveFailures` in a row eject the target for ejectMs × 2^(ejections−1), capped at
 * maxEjectMs: a worker that keeps failing stays out longer each time. Each `ejectMs` of clean
 * time after an ejection lapses forgives one ejection. Re-admission is lazy — the pool
 * recomputes eligibility when the earliest `ejectedUntil` passes; no timer runs — or early,
 * when an active check of the target passes after the ejection (active-checker.ts).
 */
export class OutlierDetector {
  /** Ejections this pool refused because `maxEjectionPercent` of its targets were out already. */
  refused = 0;
  /** Ejections this pool made. */
  ejected = 0;
  /** failOn as a lookup table: one indexed read per outcome on the hot path. */
  private readonly failStatus = new Uint8Array(600);

  constructor(
    private readonly pool: UpstreamPool,
    readonly config: PassiveConfig,
  ) {
    for (const s of config.failOn) if (s >= 0 && s < 600) this.failStatus[s] = 1;
  }

  /** Wire into `pool` (replacing any previous hook). */
  static install(pool: UpstreamPool): OutlierDetector | undefined {
    const config = passiveConfigOf(pool);
    if (!config) return undefined;
    const detector = new OutlierDetector(pool, config);
    pool.onOutcome = detector.onOutcome;
    return detector;
  }

  readonly onOutcome = (member: PoolMember, outcome: AttemptOutcome): void => {
    const t = member.target;
    const status = outcome.status;
    const failed = outcome.error !== undefined || (status !== undefined && this.failStatus[status] === 1);
    if (!failed) {
      if (t.consecutiveFailures !== 0) t.consecutiveFailures = 0;
      if (t.ejections !== 0) this.decay(t, Date.now());
      return;
    }
    if (++t.consecutiveFailures < this.config.consecutiveFailures) return;
    const now = Date.now();
    // Requests that were in flight when the target was ejected report late; they change nothing.
    if (t.ejectedUntil > now) return;
    this.eject(t, now);
  };

  private eject(t: TargetState, now: number): void {
    const members = this.pool.members;
    let out = 0;
    for (const m of members) if (m.target.ejectedUntil > now) out++;
    // Envoy's max_ejection_percent: a wave of failures (a bad deploy, an overloaded fleet) must
    // not empty the pool; the refused target keeps its count and is ejected on its next
    // failure once room frees up.
    if (100 * (out + 1) > this.config.maxEjectionPercent * members.length) {
      this.refused++;
      t.ejectionsRefused++;
      return;
    }
    this.decay(t, now);
    t.ejections++;
    const ms = Math.min(this.config.maxEjectMs, this.config.ejectMs * 2 ** Math.min(t.ejections - 1, 30));
    t.ejectedAt = now;
    t.ejectedUntil = now + ms;
    t.ejectionDecayFrom = t.ejectedUntil;
    // Back in via slow start when the ejection lapses.
    t.recoveredAt = t.ejectedUntil;
    t.consecutiveFailures = 0;
    this.ejected++;
    t.changed();
  }

  private decay(t: TargetState, now: number): void {
    if (t.ejections === 0 || t.ejectedUntil > now) return;
    const steps = Math.floor((now - t.ejectionDecayFrom) / this.config.ejectMs);
    if (steps <= 0) return;
    t.ejections = Math.max(0, t.ejections - steps);
    t.ejectionDecayFrom += steps * this.config.ejectMs;
  }
}

/**
 * Outlier detection for every pool of a registry, now and after each reload. Pools without
 * `healthCheck.passive` get no hook (passive checking is opt-in, as in Envoy).
 */
export class OutlierDetection {
  private readonly detectors = new Map<UpstreamPool, OutlierDetector>();
  private unfollow: (() => void) | undefined;

  attach(registry: UpstreamRegistry): this {
    this.unfollow = registry.follow({ created: (pool) => this.add(pool), closed: (pool) => this.detectors.delete(pool) });
    return this;
  }

  add(pool: UpstreamPool): void {
    if (this.detectors.has(pool)) return;
    const detector = OutlierDetector.install(pool);
    if (detector) this.detectors.set(pool, detector);
  }

  detectorFor(pool: UpstreamPool): OutlierDetector | undefined {
    return this.detectors.get(pool);
  }

  close(): void {
    this.unfollow?.();
    this.unfollow = undefined;
    this.detectors.clear();
  }
}
