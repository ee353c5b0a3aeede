import { createHmac, randomBytes } from 'node:crypto';
import { hash32 } from './hash.js';
import type { PoolMember } from './picker.js';

/**
 * Cookie stickiness (the proxy wires it; these are the pure parts).
 *
 * The cookie names the target by its position in the upstream's list AND a hash of its URL, so a
 * reordered or edited target list never sends a client to a different worker than the one it was
 * stuck to: a stale cookie simply stops matching and the balancer picks afresh. The value is
 * signed (HMAC-SHA256, truncated) so clients cannot pick a worker of their choosing to pile load
 * on it; the worker must also still be eligible, so stickiness never overrides health, draining
 * or the circuit breaker.
 *
 * Each member has exactly one valid value, so values are computed once per member and a lookup
 * is string comparisons over the eligible list: no HMAC per request.
 *
 * The key is random per process unless `setStickySecret` is called: gateway nodes behind one L4
 * balancer must share it (the proxy should pass a configured secret) or a client bouncing between
 * nodes loses its stickiness (never correctness: an unknown value just means a fresh pick).
 */
let secret: Buffer = randomBytes(32);
let values = new WeakMap<PoolMember, string>();

/** Use `key` for every sticky cookie from now on (e.g. shared by all gateway nodes). */
export function setStickySecret(key: string | Buffer): void {
  secret = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  values = new WeakMap();
}

/** Tag length in base64url characters: 96 bits, plenty against guessing, short in a header. */
const TAG_CHARS = 16;

/** The cookie value that sends a client back to `member`: "<index>.<urlhash hex>.<tag>". */
export function stickyCookieValue(member: PoolMember): string {
  let value = values.get(member);
  if (value === undefined) {
    const body = `${member.index}.${hash32(member.target.url).toString(16)}`;
    const tag = createHmac('sha256', secret).update(body).digest('base64url').slice(0, TAG_CHARS);
    value = `${body}.${tag}`;
    values.set(member, value);
  }
  return value;
}

/**
 * The eligible member a sticky cookie value names, or undefined (no cookie, forged or stale
 * value, or that worker is not eligible right now): then the proxy picks normally and sets a new
 * cookie.
 */
export function findStickyMember<M extends PoolMember>(cookieValue: string | undefined, eligible: readonly M[]): M | undefined {
  if (!cookieValue) return undefined;
  const dot = cookieValue.indexOf('.');
  if (dot <= 0) return undefined;
  const index = Number(cookieValue.slice(0, dot));
  for (let i = 0; i < eligible.length; i++) {
    const m = eligible[i]!;
    // Comparing against our own value (constant per member) is the verification.
    if (m.index === index) return stickyCookieValue(m) === cookieValue ? m : undefined;
  }
  return undefined;
}

/** A Set-Cookie header value for `member`; Max-Age follows the upstream's `sticky.ttlMs` (0 = session cookie). */
export function stickySetCookie(name: string, member: PoolMember, ttlMs: number, secure = false): string {
  const maxAge = ttlMs > 0 ? `; Max-Age=${Math.ceil(ttlMs / 1000)}` : '';
  return `${name}=${stickyCookieValue(member)}; Path=/${maxAge}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}
