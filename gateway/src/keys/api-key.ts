import { createHmac, randomBytes } from 'node:crypto';

/**
 * The shape of a Switchboard API key: `sb_live_` + 43 base62 characters (32 random bytes).
 * Base62 keeps the key one "word" for double-click copy and free of characters URLs and shells
 * treat specially (Stripe and GitHub keys follow the same idea).
 *
 * The first LOOKUP_CHARS characters after the marker are the key's lookup id: stored in clear as
 * part of `prefix`, they let a gateway find the one candidate record with a Map lookup and then
 * compare a single HMAC in constant time. They reveal ~47 of the key's ~256 bits, which leaves
 * far more than enough for the secret part.
 */
export const KEY_MARKER = 'sb_live_';
export const LOOKUP_CHARS = 8;
const SECRET_BYTES = 32;
const BODY_CHARS = 43; // ceil(256 / log2(62))
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(bytes: Buffer, width: number): string {
  let n = BigInt('0x' + bytes.toString('hex'));
  let out = '';
  while (n > 0n) {
    out = BASE62[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out.padStart(width, '0');
}

export interface NewKey {
  key: string;
  /** Marker + lookup id: safe to store and show. */
  prefix: string;
}

export function generateKey(): NewKey {
  const key = KEY_MARKER + base62(randomBytes(SECRET_BYTES), BODY_CHARS);
  return { key, prefix: key.slice(0, KEY_MARKER.length + LOOKUP_CHARS) };
}

/** The stored prefix of a presented key, or undefined when it cannot be one of ours. */
export function prefixOf(key: string): string | undefined {
  if (key.length !== KEY_MARKER.length + BODY_CHARS || !key.startsWith(KEY_MARKER)) return undefined;
  return key.slice(0, KEY_MARKER.length + LOOKUP_CHARS);
}

/** HMAC-SHA256 with the server pepper: a stolen store alone cannot be brute-forced offline. */
export function hashKey(pepper: Buffer, key: string): Buffer {
  return createHmac('sha256', pepper).update(key).digest();
}

export function newPepper(): string {
  return randomBytes(32).toString('base64url');
}

/** Where the pepper lives in `ConfigState.secrets`. */
export const PEPPER_SECRET = 'apiKeyPepper';
