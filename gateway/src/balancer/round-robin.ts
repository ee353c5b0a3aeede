import type { CreatePicker, PoolMember } from './picker.js';

/**
 * Plain rotation over the eligible members. The cursor counts picks rather than indexing a fixed
 * list, so members coming and going shift the rotation but never skew it for long.
 */
export const createPicker: CreatePicker = () => {
  let cursor = 0;
  return {
    pick(eligible: readonly PoolMember[]): PoolMember {
      const member = eligible[cursor % eligible.length]!;
      cursor = (cursor + 1) % 0x7fffffff;
      return member;
    },
  };
};
