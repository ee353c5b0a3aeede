import type { CreatePicker, Picker, PickerOptions, PoolMember } from './picker.js';

/** How fast latency memory fades: after 10 s without a sample, a peak counts for 1/e. */
const DEFAULT_TAU_MS = 10_000;

export interface LeastResponseTimeOptions {
  tauMs?: number;
  /** Clock in ms; tests pass simulated time. */
  now?: () => number;
}

/**
 * Peak-EWMA latency balancing (Finagle's and Linkerd's "peak EWMA").
 *
 * On each finished attempt: a sample above the current estimate replaces it at once (the peak:
 * react to a worker getting slow within one request), a sample below is blended in with weight
 * 1 - e^(-dt/tau), dt being the time since the previous sample (slow, time-based recovery that
 * does not depend on the request rate). A failed attempt counts as at least twice the current
 * estimate, so a worker failing fast does not look like the fastest one.
 *
 * At pick time the estimate fades toward the fastest eligible worker's estimate with the same
 * time constant: a worker that was slow once and then got no traffic is tried again after a
 * while instead of being starved forever (Finagle decays toward zero; the floor at the best peer
 * keeps a long-idle worker from looking free and being stampeded).
 *
 * Cost = estimate × (inFlight + 1) / effectiveWeight. A worker with no sample yet takes the floor
 * value, so it gets tried; with no samples anywhere this is least-connections. Ties rotate.
 *
 * The estimate lives on the shared TargetState (ewmaMs, ewmaAt) so the health API can show it and
 * every pool listing the worker learns from all of its traffic.
 */
export function createLeastResponseTimePicker(_options: PickerOptions, opts: LeastResponseTimeOptions = {}): Required<Pick<Picker, 'pick' | 'observe'>> {
  const tau = opts.tauMs ?? DEFAULT_TAU_MS;
  const now = opts.now ?? Date.now;
  // Ties (all idle, nothing measured yet) rotate, as in least-connections, instead of the first
  // member in the list taking them all.
  let start = 0;
  return {
    pick(eligible: readonly PoolMember[]): PoolMember {
      const n = eligible.length;
      if (n === 1) return eligible[0]!;
      let floor = Infinity;
      for (let i = 0; i < n; i++) {
        const e = eligible[i]!.target.ewmaMs;
        if (e > 0 && e < floor) floor = e;
      }
      if (floor === Infinity) floor = 1;
      const t = now();
      const from = start % n;
      start = (start + 1) % 0x7fffffff;
      let best = eligible[from]!;
      let bestCost = Infinity;
      for (let step = 0; step < n; step++) {
        let i = from + step;
        if (i >= n) i -= n;
        const m = eligible[i]!;
        const s = m.target;
        let estimate = s.ewmaMs;
        if (estimate > floor) {
          const dt = t - s.ewmaAt;
          if (dt > 0) estimate = floor + (estimate - floor) * Math.exp(-dt / tau);
        } else estimate = floor;
        const cost = (estimate * (s.inFlight + 1)) / m.effectiveWeight;
        if (cost < bestCost) {
          bestCost = cost;
          best = m;
        }
      }
      return best;
    },
    observe(member: PoolMember, latencyMs: number, ok: boolean): void {
      const s = member.target;
      const t = now();
      const sample = ok ? latencyMs : Math.max(latencyMs, 2 * s.ewmaMs);
      if (s.ewmaAt === 0 || sample > s.ewmaMs) s.ewmaMs = sample;
      else {
        const dt = Math.max(0, t - s.ewmaAt);
        const keep = Math.exp(-dt / tau);
        s.ewmaMs = s.ewmaMs * keep + sample * (1 - keep);
      }
      s.ewmaAt = t;
    },
  };
}

export const createPicker: CreatePicker = (options) => createLeastResponseTimePicker(options);
