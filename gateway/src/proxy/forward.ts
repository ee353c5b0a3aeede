import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProxyExchange } from './exchange.js';
import type { ForwardRequest, ProxyRoute } from './proxy-route.js';
import { isUpgrade, UpgradeExchange } from './upgrade.js';

export type { ForwardRequest, ProxyRoute } from './proxy-route.js';
export { REPLAY_BUFFER_BYTES } from './exchange.js';

/** Hand one request, past its route's stages, to the proxy: a protocol upgrade or an ordinary exchange. */
export function forward(route: ProxyRoute, req: IncomingMessage, res: ServerResponse, fwd: ForwardRequest): void {
  // The header test first: it is a plain property read, false for nearly every request.
  if (req.headers.upgrade !== undefined && isUpgrade(req)) new UpgradeExchange(route, req, res, fwd).start();
  else new ProxyExchange(route, req, res, fwd).start();
}
