import { currentLatency, LATENCY_TAU_MS, latencyFloor } from './peak-ewma.js';
import type { CreatePicker, Picker, PickerOptions, PoolMember } from './picker.js';


export interface LeastResponseTimeOptions {
  tauMs?: number;
  /** Clock in ms; tests pass simulated time. */
  now?: () => number;
}

/**
 * Peak-EWMA latency balancing (Finagle's and Linkerd's "peak EWMA"). The pool records every
 * attempt's latency into the shared estimate (peak-ewma.ts); at pick time the estimate fades
 * toward the fastest eligible worker's (Finagle decays toward zero; the floor at the best peer
 * keeps a long-idle worker from looking free and being stampeded).
 *
 * Cost = estimate × (inFlight + 1) / effectiveWeight. A worker with no sample yet takes the floor
 * value, so it gets tried; with no samples anywhere this is least-connections. Ties rotate.
 *
 * The estimate lives on the shared TargetState (ewmaMs, ewmaAt), so every pool listing the worker
 * learns from all of its traffic.
 */
export function createLeastResponseTimePicker(_options: PickerOptions, opts: LeastResponseTimeOptions = {}): Required<Pick<Picker, 'pick'>> {
  const tau = opts.tauMs ?? LATENCY_TAU_MS;
  const now = opts.now ?? Date.now;
  // Ties (all idle, nothing measured yet) rotate, as in least-connections, instead of the first
  // member in the list taking them all.
  let start = 0;
  return {
    pick(eligible: readonly PoolMember[]): PoolMember {
      const n = eligible.length;
      if (n === 1) return eligible[0]!;
      const floor = latencyFloor(eligible);
      const t = now();
      const from = start % n;
      start = (start + 1) % 0x7fffffff;
      let best = eligible[from]!;
      let bestCost = Infinity;
      for (let step = 0; step < n; step++) {
        let i = from + step;
        if (i >= n) i -= n;
        const m = eligible[i]!;
        const cost = (currentLatency(m.target, floor, t, tau) * (m.target.inFlight + 1)) / m.effectiveWeight;
        if (cost < bestCost) {
          bestCost = cost;
          best = m;
        }
      }
      return best;
    },
  };
}

export const createPicker: CreatePicker = (options) => createLeastResponseTimePicker(options);
