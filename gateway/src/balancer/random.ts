import type { CreatePicker, Picker, PickerOptions, PoolMember } from './picker.js';
import { unseededRandom, type Random } from './prng.js';

/**
 * Weighted random choice. One random number and one pass over the weights (a cumulative scan:
 * pools are a handful of workers, so an alias table would not pay for its rebuilds when slow
 * start moves weights). Stateless between picks, so many gateway nodes need no coordination.
 */
export function pickWeighted(eligible: readonly PoolMember[], random: Random): PoolMember {
  const n = eligible.length;
  let total = 0;
  let equal = true;
  const first = eligible[0]!.effectiveWeight;
  for (let i = 0; i < n; i++) {
    const w = eligible[i]!.effectiveWeight;
    total += w;
    if (w !== first) equal = false;
  }
  if (equal || total <= 0) return eligible[Math.floor(random() * n)]!;
  let r = random() * total;
  for (let i = 0; i < n; i++) {
    r -= eligible[i]!.effectiveWeight;
    if (r < 0) return eligible[i]!;
  }
  return eligible[n - 1]!;
}

/** For tests: the same picker on a given random source. */
export function createRandomPicker(_options: PickerOptions, random: Random = unseededRandom()): Picker {
  return {
    pick(eligible: readonly PoolMember[]): PoolMember {
      return pickWeighted(eligible, random);
    },
  };
}

export const createPicker: CreatePicker = (options) => createRandomPicker(options);
