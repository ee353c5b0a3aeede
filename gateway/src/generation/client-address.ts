import type { IncomingMessage } from 'node:http';

/** The peer's address without the IPv4-mapped IPv6 prefix. */
export function clientAddress(req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
