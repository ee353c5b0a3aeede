import { hash32 } from './hash.js';
import { HashRing } from './hash-ring.js';
import type { CreatePicker, PickContext, PoolMember } from './picker.js';

/**
 * Client-address affinity. Unlike nginx's ip_hash (a modulo over the live list, which reshuffles
 * most clients when one server goes), this uses the same ring as consistent-hash keyed on the
 * client address, so a target leaving moves only the clients it had. The address is the one the
 * gateway believes (x-forwarded-for only behind a trusted proxy, see client-ip.ts).
 */
export const createPicker: CreatePicker = ({ members }) => {
  const ring = new HashRing(members);
  return {
    pick(eligible: readonly PoolMember[], ctx: PickContext): PoolMember {
      return ring.pick(eligible, hash32(ctx.clientIp));
    },
  };
};
