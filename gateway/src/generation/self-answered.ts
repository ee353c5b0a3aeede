import type { IncomingMessage } from 'node:http';
import { pathOf } from '../contracts/access-log.js';
import type { RequestObserver } from '../contracts/request-observer.js';
import { traceOf } from '../contracts/request-tracer.js';
import type { StageServices } from './route-stage.js';

/** Told of an answer the gateway gave outside Fastify (a lane's 413, a selector's 404, the edge's 400), with its route if one matched. */
export type SelfAnswered = (req: IncomingMessage, requestId: string, status: number, route: string | undefined) => void;

/**
 * Counts and logs what is refused outside Fastify as the generation's onResponse hook does for
 * Fastify's answers: the same metric, the same access line. Nothing was sent upstream (no target,
 * no attempts), and the answer was immediate, so no duration worth a clock read. A request-target
 * that is not origin-form is logged as `-`: it is the refused input, and may hold an authority.
 */
export function selfAnswered(services: Pick<StageServices, 'accessLog' | 'clientIp'>, observer: RequestObserver | undefined): SelfAnswered | undefined {
  const accessLog = services.accessLog;
  if (!accessLog && !observer) return undefined;
  return (req, requestId, status, route) => {
    observer?.completed(route ?? 'none', status, 0);
    accessLog?.write({
      requestId,
      method: req.method ?? '',
      path: req.url?.startsWith('/') ? pathOf(req.url) : '-',
      status,
      durationMs: 0,
      route,
      target: undefined,
      consumer: undefined,
      clientIp: services.clientIp(req),
      attempts: 0,
      traceId: traceOf(req)?.traceId,
    });
  };
}
