import type { CreatePicker, PoolMember } from './picker.js';

/**
 * Smooth weighted round robin, nginx's algorithm: every pick adds each eligible member's weight
 * to its running score, takes the highest score and subtracts the round's total weight from it.
 * Over one cycle of total weight picks each member gets exactly its share, and the heavy member's
 * turns are spread out (5:3:2 gives a c b a c a b a c a-like order, never five in a row), which
 * keeps bursts off any one worker.
 *
 * Scores live per member index, so the eligible set may change between picks: a member that
 * drops out keeps its score frozen until it is back, as nginx does for a failed peer. Weights are
 * the pool's `effectiveWeight` (slow start may make them fractional; the arithmetic is float).
 */
export const createPicker: CreatePicker = ({ members }) => {
  let size = 0;
  for (const m of members) if (m.index + 1 > size) size = m.index + 1;
  const current = new Float64Array(size);
  return {
    pick(eligible: readonly PoolMember[]): PoolMember {
      let total = 0;
      let best: PoolMember | undefined;
      let bestScore = -Infinity;
      for (let i = 0; i < eligible.length; i++) {
        const m = eligible[i]!;
        const w = m.effectiveWeight;
        total += w;
        const score = (current[m.index] = current[m.index]! + w);
        if (score > bestScore) {
          bestScore = score;
          best = m;
        }
      }
      current[best!.index] = bestScore - total;
      return best!;
    },
  };
};
