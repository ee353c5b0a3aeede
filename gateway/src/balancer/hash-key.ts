import type { IncomingMessage } from 'node:http';
import type { Upstream } from '../../../spec/upstream.js';

// Called by generation/compile.ts per request as hashKeyFor(hashOn, req, clientIp, consumerName).
// Provisional: the balancing work replaces the body (header/cookie/query sources).
export function hashKeyFor(
  hashOn: NonNullable<Upstream['hashOn']>,
  req: IncomingMessage,
  clientIp: string,
  consumerName: string | undefined,
): string | undefined {
  switch (hashOn.source) {
    case 'ip':
      return clientIp;
    case 'consumer':
      return consumerName;
    case 'header': {
      const v = req.headers[(hashOn.name ?? '').toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    }
    default:
      return undefined;
  }
}
