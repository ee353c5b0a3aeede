import type { IncomingMessage } from 'node:http';
import { clientIpFor, normalizeAddress, TrustedProxies } from '../balancer/client-ip.js';

/** The peer's address without the IPv4-mapped IPv6 prefix. */
export function clientAddress(req: IncomingMessage): string {
  return normalizeAddress(req.socket.remoteAddress ?? '');
}

/** How a node tells a request's client address, given the proxies it trusts (none: the socket peer). */
export function clientIpResolver(trusted: readonly string[] | undefined): (req: IncomingMessage) => string {
  if (!trusted?.length) return clientAddress;
  const proxies = new TrustedProxies(trusted);
  return (req) => clientIpFor(req, proxies);
}
