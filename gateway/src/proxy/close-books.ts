import type { IncomingMessage } from 'node:http';
import { pathOf } from '../contracts/access-log.js';
import type { RequestTrace } from '../contracts/request-tracer.js';
import type { Attempts } from './attempts.js';
import type { ForwardRequest, ProxyRoute } from './proxy-route.js';

/**
 * A proxied request is over (an ordinary exchange, or a WebSocket at its tunnel's close): give
 * back its retry-budget tokens, count it and write its access line. Each exchange calls this
 * exactly once, with the status the client saw (0 = cut).
 */
export function closeBooks(
  route: ProxyRoute,
  req: IncomingMessage,
  fwd: ForwardRequest,
  attempts: Attempts,
  trace: RequestTrace | undefined,
  status: number,
  durationMs: number,
): void {
  attempts.settle();
  route.observer?.completed(route.name, status, durationMs);
  route.accessLog?.write({
    requestId: fwd.requestId,
    method: req.method ?? 'GET',
    path: pathOf(req.url),
    status,
    durationMs,
    route: route.name,
    target: attempts.current?.target.url,
    consumer: fwd.consumerName,
    clientIp: fwd.clientIp,
    attempts: attempts.count,
    traceId: trace?.traceId,
  });
}
