import { hash32 } from './hash.js';
import { HashRing } from './hash-ring.js';
import type { CreatePicker, PickContext, PoolMember } from './picker.js';

/**
 * Consistent hashing on the request's `hashOn` key (header, cookie, query, consumer or ip), for
 * session affinity that survives targets coming and going: prefix caches on GPU workers (KV cache
 * reuse for one conversation) pay off only when a session keeps landing on the same worker.
 *
 * A request without the key follows `hashOn.fallback`: "ip" (default) hashes the client address
 * instead, "round-robin" spreads keyless requests evenly.
 */
export const createPicker: CreatePicker = ({ members, upstream }) => {
  const ring = new HashRing(members);
  const roundRobin = upstream.hashOn?.fallback === 'round-robin';
  let cursor = 0;
  return {
    pick(eligible: readonly PoolMember[], ctx: PickContext): PoolMember {
      const key = ctx.hashKey;
      if (key === undefined || key === '') {
        if (roundRobin) {
          const member = eligible[cursor % eligible.length]!;
          cursor = (cursor + 1) % 0x7fffffff;
          return member;
        }
        return ring.pick(eligible, hash32(ctx.clientIp));
      }
      return ring.pick(eligible, hash32(key));
    },
  };
};
