import type { CheckResult } from '../balancer/target-state.js';
import type { UpstreamPool } from '../balancer/upstream-pool.js';

/** One entry of `GET /upstreams/{id}/health` (CONTRACT.md), plus operator extras. */
export interface TargetHealth {
  url: string;
  state: 'healthy' | 'unhealthy' | 'draining';
  inFlight: number;
  /** Smoothed (EWMA) response latency, whole ms; 0 before the first response. */
  latencyMs: number;
  lastCheck: CheckResult | null;
  ejections: number;
  ejectedUntil: string | null;
  consecutiveFailures: number;
  backup: boolean;
  weight: number;
  /** Weight in force now (below `weight` during slow start), two decimals. */
  effectiveWeight: number;
}

/**
 * The health of every target of `pool`, in configuration order. 'draining' wins over the
 * health verdict (the operator's choice is what they look for); 'unhealthy' covers both a
 * failed active check and a passive ejection — `ejectedUntil` tells them apart.
 */
export function healthReport(pool: UpstreamPool): TargetHealth[] {
  const now = Date.now();
  // Brings effective weights and lapsed ejections up to date.
  pool.eligibleMembers();
  return pool.members.map((m) => {
    const t = m.target;
    const ejected = t.ejectedUntil > now;
    return {
      url: t.url,
      state: m.draining ? 'draining' : t.isUp(now) ? 'healthy' : 'unhealthy',
      inFlight: t.inFlight,
      latencyMs: Math.round(t.ewmaMs),
      lastCheck: t.lastCheck ? { ...t.lastCheck } : null,
      ejections: t.ejections,
      ejectedUntil: ejected ? new Date(t.ejectedUntil).toISOString() : null,
      consecutiveFailures: t.consecutiveFailures,
      backup: m.backup,
      weight: m.weight,
      effectiveWeight: Math.round(m.effectiveWeight * 100) / 100,
    };
  });
}
