import { hash32 } from './hash.js';
import { HashRing } from './hash-ring.js';
import { createLeastQueuePicker } from './least-queue.js';
import { currentLatency, latencyFloor } from './peak-ewma.js';
import type { CreatePicker, PickContext, PoolMember } from './picker.js';

/** HAProxy's hash-balance-factor 125: a target may carry 25 % above the pool's mean. */
export const DEFAULT_LOAD_FACTOR = 0.25;

/**
 * Prefix affinity for GPU model servers: the key is the prompt's leading characters
 * (prefix-key.ts; the proxy reads the JSON body for it), placed on a consistent-hash ring, so
 * requests sharing a prefix go to the worker whose KV cache already holds it.
 *
 * Consistent hashing with bounded loads (V. Mirrokni, M. Thorup, M. Zadimoghaddam, SODA 2018;
 * HAProxy's `hash-balance-factor`): a member may take the request only while its in-flight count
 * is below ceil((1 + ε) × (total in flight + 1) × its share of the capacity) — its weight over its
 * latency relative to the fastest member (peak-EWMA) — and the pick walks the
 * ring clockwise from the key to the first member under its bound. A hot prefix thus stays on
 * one worker until that worker carries more than its share, then spills to the next worker on
 * the ring — the same one each time, so the spill's cache warms as well — and a slow worker,
 * whose requests stay in flight longer, reaches its bound sooner and takes less.
 *
 * A request without a key (not JSON, no messages or prompt) goes to least-queue, which reads
 * the workers' queue depths from their /metrics.
 */
export const createPicker: CreatePicker = (options) => {
  const ring = new HashRing(options.members);
  const fallback = createLeastQueuePicker(options);
  const epsilon = options.upstream.prefixAffinity?.loadFactor ?? DEFAULT_LOAD_FACTOR;
  const under: PoolMember[] = [];
  let capacity = new Float64Array(Math.max(1, options.members.length));
  return {
    pick(eligible: readonly PoolMember[], ctx: PickContext): PoolMember {
      const key = ctx.hashKey;
      if (key === undefined || key === '') return fallback.pick(eligible, ctx);
      // Each member's share of the bound is its weight over its latency relative to the fastest
      // (the pool's peak-EWMA): a GPU three times slower serves a third as many at once, so it is
      // held to a third of the share rather than filled to a fast worker's bound.
      const floor = latencyFloor(eligible);
      const now = Date.now();
      if (capacity.length < eligible.length) capacity = new Float64Array(eligible.length);
      let total = 1;
      let capacities = 0;
      for (let i = 0; i < eligible.length; i++) {
        const m = eligible[i]!;
        total += m.target.inFlight;
        capacities += capacity[i] = m.effectiveWeight / (currentLatency(m.target, floor, now) / floor);
      }
      under.length = 0;
      for (let i = 0; i < eligible.length; i++) {
        const m = eligible[i]!;
        if (m.target.inFlight < Math.ceil((1 + epsilon) * total * (capacity[i]! / capacities))) under.push(m);
      }
      // Some member is at or below the weighted mean, hence under its bound; the guard is for
      // rounding only.
      const chosen = ring.pick(under.length > 0 ? under : eligible, hash32(key));
      under.length = 0;
      return chosen;
    },
    // No observe(): least-queue's between-scrape estimate counts its own dispatches, and the
    // completions of keyed requests it never dispatched would only skew it; the gateway's own
    // in-flight count, its floor, stays exact either way.
    close(): void {
      fallback.close();
    },
  };
};
