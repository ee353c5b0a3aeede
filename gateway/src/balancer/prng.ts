/**
 * A small seedable generator for the randomised pickers (random, power-of-two, least-queue).
 *
 * xorshift32 (Marsaglia): three shifts and xors per number, no allocation, good enough to choose
 * among a handful of targets, and seedable so tests replay the exact same sequence. Not for
 * anything security related.
 */
export type Random = () => number;

export function xorshift32(seed: number): Random {
  // Zero is xorshift's one fixed point; any other 32-bit value is a full-period start.
  let s = seed | 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    // 2^-32: a float in [0, 1).
    return (s >>> 0) * 2.3283064365386963e-10;
  };
}

/** A generator seeded from the process's entropy, for production pickers. */
export function unseededRandom(): Random {
  return xorshift32((Math.random() * 0x100000000) >>> 0);
}
