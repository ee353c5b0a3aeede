import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/**
 * An address as four 32-bit words of an IPv6 address; IPv4 is mapped into ::ffff:0:0/96 so one
 * matcher covers both families and "10.0.0.1" matches "::ffff:10.0.0.1" (what a dual-stack
 * socket reports for an IPv4 peer).
 */
type Words = [number, number, number, number];

function parseIPv4(s: string, out: Words, word: number): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return false;
    const n = Number(p);
    if (n > 255) return false;
    v = v * 256 + n;
  }
  out[word] = v >>> 0;
  return true;
}

/** Parses an IPv4 or IPv6 address (zone id dropped, embedded IPv4 tail allowed), or undefined. */
export function parseAddress(address: string): Words | undefined {
  let s = address.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  const family = isIP(s);
  if (family === 4) {
    const w: Words = [0, 0, 0xffff, 0];
    return parseIPv4(s, w, 3) ? w : undefined;
  }
  if (family !== 6) return undefined;
  const groups = new Array<number>(8).fill(0);
  const half = s.indexOf('::');
  const head = half === -1 ? s : s.slice(0, half);
  const tail = half === -1 ? '' : s.slice(half + 2);
  const headParts = head ? head.split(':') : [];
  const tailParts = tail ? tail.split(':') : [];
  // A dotted IPv4 last part stands for two groups.
  const expand = (parts: string[]): number[] => {
    const out: number[] = [];
    for (const p of parts) {
      if (p.includes('.')) {
        const w: Words = [0, 0, 0, 0];
        parseIPv4(p, w, 0);
        out.push(w[0] >>> 16, w[0] & 0xffff);
      } else out.push(parseInt(p, 16));
    }
    return out;
  };
  const h = expand(headParts);
  const t = expand(tailParts);
  for (let i = 0; i < h.length; i++) groups[i] = h[i]!;
  for (let i = 0; i < t.length; i++) groups[8 - t.length + i] = t[i]!;
  return [
    ((groups[0]! << 16) | groups[1]!) >>> 0,
    ((groups[2]! << 16) | groups[3]!) >>> 0,
    ((groups[4]! << 16) | groups[5]!) >>> 0,
    ((groups[6]! << 16) | groups[7]!) >>> 0,
  ];
}

interface Cidr {
  readonly base: Words;
  readonly prefix: number;
}

function inCidr(a: Words, c: Cidr): boolean {
  let bits = c.prefix;
  for (let i = 0; i < 4 && bits > 0; i++) {
    const take = bits >= 32 ? 32 : bits;
    const mask = take === 32 ? 0xffffffff : ~(0xffffffff >>> take) >>> 0;
    if (((a[i]! & mask) >>> 0) !== ((c.base[i]! & mask) >>> 0)) return false;
    bits -= take;
  }
  return true;
}

/** Cache size for address verdicts: traffic arrives from few proxies, so a handful of entries hit. */
const VERDICT_CACHE = 1024;

/**
 * A set of CIDRs ("10.0.0.0/8", "fd00::/8", a bare address = one host). Throws on a malformed
 * entry so a bad config is refused at compile time, not at the first request.
 */
export class TrustedProxies {
  private readonly cidrs: Cidr[] = [];
  private readonly verdicts = new Map<string, boolean>();

  constructor(list: readonly string[] = []) {
    for (const entry of list) {
      const slash = entry.indexOf('/');
      const addr = slash === -1 ? entry : entry.slice(0, slash);
      const base = parseAddress(addr);
      if (!base) throw new Error(`trusted proxy "${entry}" is not an IP address or CIDR`);
      const v4 = isIP(addr.trim()) === 4;
      const max = v4 ? 32 : 128;
      const bits = slash === -1 ? max : Number(entry.slice(slash + 1));
      if (!Number.isInteger(bits) || bits < 0 || bits > max) throw new Error(`trusted proxy "${entry}" has a bad prefix length`);
      this.cidrs.push({ base, prefix: v4 ? bits + 96 : bits });
    }
  }

  get empty(): boolean {
    return this.cidrs.length === 0;
  }

  contains(address: string): boolean {
    if (this.cidrs.length === 0) return false;
    const cached = this.verdicts.get(address);
    if (cached !== undefined) return cached;
    const a = parseAddress(address);
    let hit = false;
    if (a) for (const c of this.cidrs) if (inCidr(a, c)) { hit = true; break; }
    if (this.verdicts.size >= VERDICT_CACHE) this.verdicts.clear();
    this.verdicts.set(address, hit);
    return hit;
  }
}

/** "::ffff:1.2.3.4" → "1.2.3.4": one spelling per client, so ip-hash keys agree across stacks. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * The client's address as the gateway should believe it.
 *
 * The socket peer, unless that peer is a trusted proxy: then x-forwarded-for is read from the
 * right, skipping trusted hops, and the first untrusted address is the client (nginx's
 * real_ip_recursive). Reading from the right matters: everything left of the last trusted hop
 * was written by the client itself and could name anyone; the nearest untrusted entry is the
 * one a trusted proxy actually saw. If every entry is trusted, the left-most one is used. An
 * entry that is not an address stops the walk at the last trusted hop.
 */
export function clientIpFrom(
  socketAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
  trusted: TrustedProxies | undefined,
): string {
  const peer = normalizeAddress(socketAddress ?? '');
  if (!trusted || trusted.empty || forwardedFor === undefined || !trusted.contains(peer)) return peer;
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  let candidate = peer;
  let end = header.length;
  while (end > 0) {
    const comma = header.lastIndexOf(',', end - 1);
    const hop = normalizeAddress(header.slice(comma + 1, end).trim());
    end = comma === -1 ? 0 : comma;
    if (hop === '') continue;
    if (isIP(hop) === 0) return candidate;
    candidate = hop;
    if (!trusted.contains(hop)) return hop;
  }
  return candidate;
}

/** clientIpFrom for a Node request. */
export function clientIpFor(req: IncomingMessage, trusted: TrustedProxies | undefined): string {
  return clientIpFrom(req.socket.remoteAddress, req.headers['x-forwarded-for'], trusted);
}
