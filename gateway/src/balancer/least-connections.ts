import type { CreatePicker, PoolMember } from './picker.js';

/**
 * Fewest requests in flight relative to weight: minimise (inFlight + 1) / effectiveWeight, the
 * cost Envoy's least-request balancer uses with its default bias of 1. The "+ 1" counts the
 * request being placed, so with everyone idle a weight-2 target is preferred over a weight-1
 * one instead of all idle targets tying at zero.
 *
 * In-flight counts are the gateway's own (across all pools sharing the target). Ties are broken
 * round robin by starting each scan one member further along, so equal targets share evenly
 * instead of the first in the list taking every tie (nginx's least_conn falls back to weighted
 * round robin among ties for the same reason).
 */
export const createPicker: CreatePicker = () => {
  let start = 0;
  return {
    pick(eligible: readonly PoolMember[]): PoolMember {
      const n = eligible.length;
      const from = start % n;
      start = (start + 1) % 0x7fffffff;
      let best = eligible[from]!;
      let bestCost = (best.target.inFlight + 1) / best.effectiveWeight;
      for (let step = 1; step < n; step++) {
        let i = from + step;
        if (i >= n) i -= n;
        const m = eligible[i]!;
        const cost = (m.target.inFlight + 1) / m.effectiveWeight;
        if (cost < bestCost) {
          bestCost = cost;
          best = m;
        }
      }
      return best;
    },
  };
};
