import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { pathOf, type AccessEntry, type AccessLog } from '../contracts/access-log.js';
import { newRequestId } from './request-id.js';
import type { RequestObserver } from '../contracts/request-observer.js';
import { traceOf } from '../contracts/request-tracer.js';
import type { StageServices } from './route-stage.js';

/**
 * Told of an answer the gateway gave itself, with its route if one matched: Fastify's (the
 * generation's onResponse hook: a 401, 429, 404…, with its duration and consumer) and those given
 * outside Fastify (a lane's 413, a selector's 404, the edge's 400), answered at once, so without
 * a duration worth a clock read.
 */
export type SelfAnswered = (req: IncomingMessage, requestId: string, status: number, route: string | undefined, durationMs?: number, consumer?: string) => void;

/**
 * Counts an answer the gateway gave itself, and writes its access line: nothing was sent
 * upstream (no target, no attempts). A request-target that is not origin-form is logged as `-`:
 * it is the refused input, and may hold an authority.
 */
export function selfAnswered(services: Pick<StageServices, 'accessLog' | 'clientIp'>, observer: RequestObserver | undefined): SelfAnswered | undefined {
  const accessLog = services.accessLog;
  if (!accessLog && !observer) return undefined;
  return (req, requestId, status, route, durationMs = 0, consumer) => {
    observer?.completed(route ?? 'none', status, durationMs);
    write(accessLog, {
      requestId,
      method: req.method ?? '',
      path: req.url?.startsWith('/') ? pathOf(req.url) : '-',
      status,
      durationMs,
      route,
      consumer,
      clientIp: services.clientIp(req),
      traceId: traceOf(req)?.traceId,
    });
  };
}

/** Told of an answer node:http's parser gave (400, 408, 413, 431) before a request existed. */
export type UnparsedAnswered = (status: number, socket: Socket) => void;

/**
 * The same for what never became a request (node/client-error.ts): counted under route `none`,
 * logged with a fresh request id, `-` for method and path, and the peer's address as it
 * connected (no header was believed, so no x-forwarded-for either).
 */
export function unparsedAnswered(services: Pick<StageServices, 'accessLog'>, observer: RequestObserver | undefined): UnparsedAnswered | undefined {
  const accessLog = services.accessLog;
  if (!accessLog && !observer) return undefined;
  return (status, socket) => {
    observer?.completed('none', status, 0);
    write(accessLog, { requestId: newRequestId(), method: '-', path: '-', status, durationMs: 0, route: undefined, consumer: undefined, clientIp: socket.remoteAddress ?? '' });
  };
}

/** An answer the gateway gave itself: nothing went upstream. */
function write(accessLog: AccessLog | undefined, entry: Omit<AccessEntry, 'target' | 'attempts'>): void {
  accessLog?.write({ ...entry, target: undefined, attempts: 0 });
}
