import type { IncomingMessage } from 'node:http';
import { isIP, type BlockList } from 'node:net';
import { cidrList, listed } from './cidr.js';

/** Cache size for address verdicts: traffic arrives from few proxies, so a handful of entries hit. */
const VERDICT_CACHE = 1024;

/**
 * A set of CIDRs ("10.0.0.0/8", "fd00::/8", a bare address = one host), parsed by the one
 * strict CIDR grammar (spec/cidr.ts) and matched by net.BlockList (balancer/cidr.ts). Throws on
 * a malformed entry, naming it, so a bad list is refused before any request is believed.
 */
export class TrustedProxies {
  private readonly list: BlockList | undefined;
  private readonly verdicts = new Map<string, boolean>();

  constructor(list: readonly string[] = [], field = 'trusted proxies') {
    this.list = list.length ? cidrList(list, field) : undefined;
  }

  get empty(): boolean {
    return this.list === undefined;
  }

  contains(address: string): boolean {
    if (!this.list) return false;
    const cached = this.verdicts.get(address);
    if (cached !== undefined) return cached;
    const hit = isIP(address) !== 0 && listed(this.list, address);
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
