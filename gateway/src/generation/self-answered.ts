import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { pathOf, type AccessEntry, type AccessLog } from '../contracts/access-log.js';
import { newRequestId } from './request-id.js';
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
    write(accessLog, {
      requestId,
      method: req.method ?? '',
      path: req.url?.startsWith('/') ? pathOf(req.url) : '-',
      status,
      route,
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
    write(accessLog, { requestId: newRequestId(), method: '-', path: '-', status, route: undefined, clientIp: socket.remoteAddress ?? '' });
  };
}

function write(accessLog: AccessLog | undefined, entry: Pick<AccessEntry, 'requestId' | 'method' | 'path' | 'status' | 'route' | 'clientIp' | 'traceId'>): void {
  accessLog?.write({ ...entry, durationMs: 0, target: undefined, consumer: undefined, attempts: 0 });
}
