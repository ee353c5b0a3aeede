/**
 * MurmurHash3 (x86, 32-bit) of a string's UTF-8 bytes.
 *
 * Why murmur3 and not FNV-1a: consistent hashing places "url#0", "url#1"… on a ring, keys that
 * differ in their last characters only. FNV-1a spreads such keys poorly without an extra
 * finaliser; murmur3's finaliser avalanches every input bit, so 160 virtual nodes per target
 * are enough for an even ring. It is the same choice nginx's and Envoy's ring hashes make in
 * spirit (a fast non-cryptographic 32/64-bit hash); the output matches the reference
 * implementation, so rings are reproducible across processes and gateway nodes.
 *
 * Hot path: ASCII strings (URLs, IPs, header values) are hashed straight from char codes with
 * no allocation; only a string with a non-ASCII character is encoded to bytes first.
 */
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixBlock(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number, tail: number, tailLength: number, length: number): number {
  if (tailLength > 0) {
    let k = Math.imul(tail, C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** murmur3_32 over bytes. */
export function hashBytes(bytes: Uint8Array, seed = 0): number {
  let h = seed | 0;
  const n = bytes.length;
  const blocks = n & ~3;
  for (let i = 0; i < blocks; i += 4)
    h = mixBlock(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  let tail = 0;
  const rest = n & 3;
  if (rest >= 3) tail ^= bytes[blocks + 2]! << 16;
  if (rest >= 2) tail ^= bytes[blocks + 1]! << 8;
  if (rest >= 1) tail ^= bytes[blocks]!;
  return finish(h, tail, rest, n);
}

/** murmur3_32 over the UTF-8 encoding of `s`; an unsigned 32-bit integer. */
export function hash32(s: string, seed = 0): number {
  const n = s.length;
  let h = seed | 0;
  const blocks = n & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    const a = s.charCodeAt(i);
    const b = s.charCodeAt(i + 1);
    const c = s.charCodeAt(i + 2);
    const d = s.charCodeAt(i + 3);
    if ((a | b | c | d) > 0x7f) return hashBytes(Buffer.from(s, 'utf8'), seed);
    h = mixBlock(h, a | (b << 8) | (c << 16) | (d << 24));
  }
  let tail = 0;
  const rest = n & 3;
  for (let j = rest - 1; j >= 0; j--) {
    const c = s.charCodeAt(blocks + j);
    if (c > 0x7f) return hashBytes(Buffer.from(s, 'utf8'), seed);
    tail ^= c << (8 * j);
  }
  return finish(h, tail, rest, n);
}
