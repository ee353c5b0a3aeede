import { hash32 } from './hash.js';
import type { PoolMember } from './picker.js';

/** Points per unit of weight, as nginx's `hash … consistent` (ketama) uses. */
const POINTS_PER_WEIGHT = 160;
/** Large weights (up to 10 000 each) would build million-point rings; scale down beyond this. */
const MAX_POINTS = 160_000;

/**
 * A ketama-style ring of virtual nodes over ALL members of a pool, built once per configuration.
 *
 * Why a ring and not Maglev: a ring lets the pick skip members that are not eligible right now
 * and land on the next point clockwise, so a key only moves when ITS target goes away; keys of
 * healthy targets never move (APISIX's chash keeps its ring over all nodes for the same reason).
 * Maglev's table must be rebuilt for a new host set and then moves a few extra keys. Building
 * here is O(P log P) at configuration time; a pick is a binary search plus a short walk.
 *
 * Points are "url#i" hashed, so a target's points depend on its URL only: adding or removing a
 * target from the configuration moves about 1/n of the keys, wherever the target sits in the
 * list. Configured weight sets the number of points; slow-start weights do not rebuild the ring.
 */
export class HashRing {
  private readonly points: Uint32Array;
  /** Member index (position in the pool's `members`) owning each point. */
  private readonly owners: Int32Array;
  /** stamp[index] === seq marks the members eligible for the pick in progress. */
  private readonly stamp: Uint32Array;
  private seq = 0;

  constructor(members: readonly PoolMember[]) {
    let totalWeight = 0;
    let maxIndex = 0;
    for (const m of members) {
      if (m.weight > 0) totalWeight += m.weight;
      if (m.index > maxIndex) maxIndex = m.index;
    }
    const scale = Math.min(POINTS_PER_WEIGHT, MAX_POINTS / Math.max(1, totalWeight));
    const pairs: [number, number][] = [];
    for (const m of members) {
      if (m.weight <= 0) continue;
      const count = Math.max(1, Math.round(m.weight * scale));
      const url = m.target.url;
      for (let i = 0; i < count; i++) pairs.push([hash32(`${url}#${i}`), m.index]);
    }
    // Ties (two points with one hash) resolve by member index so every node builds the same ring.
    pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.points = new Uint32Array(pairs.length);
    this.owners = new Int32Array(pairs.length);
    for (let i = 0; i < pairs.length; i++) {
      this.points[i] = pairs[i]![0];
      this.owners[i] = pairs[i]![1];
    }
    this.stamp = new Uint32Array(maxIndex + 1);
  }

  get size(): number {
    return this.points.length;
  }

  /**
   * The eligible member owning the first point at or clockwise after `hash`.
   * `eligible` is never empty (the pool's promise).
   */
  pick(eligible: readonly PoolMember[], hash: number): PoolMember {
    const seq = (this.seq = (this.seq + 1) >>> 0 || 1);
    const stamp = this.stamp;
    for (let i = 0; i < eligible.length; i++) {
      const idx = eligible[i]!.index;
      if (idx < stamp.length) stamp[idx] = seq;
    }
    const points = this.points;
    const n = points.length;
    if (n > 0) {
      // Lower bound: first point >= hash; past the last point wraps to the first.
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (points[mid]! < hash) lo = mid + 1;
        else hi = mid;
      }
      const owners = this.owners;
      for (let step = 0; step < n; step++) {
        let at = lo + step;
        if (at >= n) at -= n;
        const owner = owners[at]!;
        if (stamp[owner] === seq) {
          for (let i = 0; i < eligible.length; i++) if (eligible[i]!.index === owner) return eligible[i]!;
        }
      }
    }
    // Only reachable with members unknown to the ring: still deterministic per key.
    return eligible[hash % eligible.length]!;
  }
}
