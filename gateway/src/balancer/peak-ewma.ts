import type { TargetState } from './target-state.js';

/** How fast latency memory fades: after 10 s without a sample, a peak counts for 1/e. */
export const LATENCY_TAU_MS = 10_000;

/**
 * The most a failed attempt can add to a worker's estimate. Without a ceiling each failure
 * doubled it: ≈ 1 000 failures in a row reached Infinity, then NaN, which starved the worker in
 * every latency-aware pool for good and broke the health API. Finagle and Envoy bound the
 * penalty the same way; 10 s is well above any healthy inference latency and still fades to a
 * third within one τ.
 */
export const FAILURE_PENALTY_CAP_MS = 10_000;

/**
 * Peak-EWMA latency per target (Finagle's and Linkerd's "peak EWMA"), kept by the pool for every
 * algorithm so the health API, the metrics and any latency-aware picker read the same estimate.
 *
 * A sample above the estimate replaces it at once (react to a worker getting slow within one
 * request); a sample below blends in with weight 1 − e^(−dt/τ), dt being the time since the
 * previous sample (recovery by time, not by request rate). A failed attempt counts as twice the
 * current estimate, at most FAILURE_PENALTY_CAP_MS (and never less than its own latency), so a
 * worker failing fast does not look like the fastest one and a long run of failures stays finite.
 */
export function recordLatency(target: TargetState, latencyMs: number, ok: boolean, now: number, tauMs = LATENCY_TAU_MS): void {
  // A clock hiccup or a broken measurement must not poison a shared estimate.
  if (!(latencyMs >= 0) || latencyMs === Infinity) return;
  const sample = ok ? latencyMs : Math.max(latencyMs, Math.min(2 * target.ewmaMs, FAILURE_PENALTY_CAP_MS));
  if (target.ewmaAt === 0 || sample > target.ewmaMs) target.ewmaMs = sample;
  else {
    const keep = Math.exp(-Math.max(0, now - target.ewmaAt) / tauMs);
    target.ewmaMs = target.ewmaMs * keep + sample * (1 - keep);
  }
  target.ewmaAt = now;
}

/**
 * The estimate as a picker should use it now: faded toward `floor` (the best peer's estimate)
 * with the same τ since the last sample, so a worker that was slow once and then got no traffic
 * is tried again after a while instead of being starved forever; a worker without samples takes
 * the floor, so it gets tried.
 */
export function currentLatency(target: TargetState, floor: number, now: number, tauMs = LATENCY_TAU_MS): number {
  const estimate = target.ewmaMs;
  if (estimate <= floor) return floor;
  const dt = now - target.ewmaAt;
  return dt > 0 ? floor + (estimate - floor) * Math.exp(-dt / tauMs) : estimate;
}

/** The lowest measured estimate among `members` (1 when none is measured yet). */
export function latencyFloor(members: readonly { target: TargetState }[]): number {
  let floor = Infinity;
  for (let i = 0; i < members.length; i++) {
    const e = members[i]!.target.ewmaMs;
    if (e > 0 && e < floor) floor = e;
  }
  return floor === Infinity ? 1 : floor;
}
