import type { CreatePicker, Picker, PickerOptions, PoolMember } from './picker.js';
import { unseededRandom, type Random } from './prng.js';

/**
 * Power of two random choices (Mitzenmacher; Envoy's least-request with choice_count 2): draw two
 * distinct members, send to the one with fewer requests in flight (tie: lower latency EWMA).
 * Nearly as good as scanning for the global least-loaded member, but a slightly stale view never
 * herds every request onto the same "best" target, which matters when several gateway nodes
 * balance the same workers without sharing counts.
 *
 * With unequal weights the two draws are weighted (without replacement), so a weight-3 target is
 * offered three times as often and wins proportionally more.
 */
export function createPowerOfTwoPicker(_options: PickerOptions, random: Random = unseededRandom()): Picker {
  return {
    pick(eligible: readonly PoolMember[]): PoolMember {
      const n = eligible.length;
      if (n === 1) return eligible[0]!;
      let total = 0;
      let equal = true;
      const w0 = eligible[0]!.effectiveWeight;
      for (let i = 0; i < n; i++) {
        const w = eligible[i]!.effectiveWeight;
        total += w;
        if (w !== w0) equal = false;
      }
      let a: number;
      let b: number;
      if (equal || total <= 0) {
        a = Math.floor(random() * n);
        // Second draw over the n-1 others: shift past the first to keep the two distinct.
        b = Math.floor(random() * (n - 1));
        if (b >= a) b++;
      } else {
        a = drawIndex(eligible, random() * total, -1);
        b = drawIndex(eligible, random() * (total - eligible[a]!.effectiveWeight), a);
      }
      const x = eligible[a]!;
      const y = eligible[b]!;
      const dx = x.target.inFlight;
      const dy = y.target.inFlight;
      if (dx !== dy) return dx < dy ? x : y;
      return y.target.ewmaMs < x.target.ewmaMs ? y : x;
    },
  };
}

/** Cumulative scan for `r` over the weights, leaving out `skip`. */
function drawIndex(eligible: readonly PoolMember[], r: number, skip: number): number {
  let last = -1;
  for (let i = 0; i < eligible.length; i++) {
    if (i === skip) continue;
    last = i;
    r -= eligible[i]!.effectiveWeight;
    if (r < 0) return i;
  }
  return last;
}

export const createPicker: CreatePicker = (options) => createPowerOfTwoPicker(options);
