import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DrainOptions {
  /** How long the listeners keep accepting after the signal (load balancers notice /readyz). */
  drainDelayMs: number;
  /** From the signal: when whatever is still in flight is cut. */
  shutdownTimeoutMs: number;
  /** When the signal came (Date.now()); the timeout counts from it. */
  startedAt: number;
  /** Other listeners (TCP streams) that stop accepting with these, given what is left of the timeout. */
  alongside?: (remainingMs: number) => Promise<unknown>;
}

export interface DrainResult {
  /** Connections still open at the timeout, closed then. */
  cut: number;
}

/**
 * The listener half of a graceful stop (SIGTERM):
 * 1. every response from now on says `connection: close`, so keep-alive clients reconnect —
 *    to another node once their load balancer has seen /readyz turn 503;
 * 2. the listeners keep accepting for `drainDelayMs`: endpoints (Kubernetes, HAProxy, an ALB)
 *    take a few probe intervals to stop sending, and a refused connection meanwhile is an error
 *    a client sees;
 * 3. they stop accepting, idle connections close, and in-flight requests (long generation
 *    streams, WebSockets) finish, until `shutdownTimeoutMs` after the signal, when the rest are cut.
 * Every listener of node/listeners.ts drains this way: plain, PROXY-protocol fronts, TLS, h2c.
 */
export async function drainListeners(servers: readonly (HttpServer | NetServer)[], options: DrainOptions): Promise<DrainResult> {
  for (const server of servers) {
    // Prepended, so it runs before the handler writes anything; added only now, so normal traffic pays nothing.
    server.prependListener('request', closeAfterResponse);
  }
  const remaining = () => options.startedAt + options.shutdownTimeoutMs - Date.now();
  const delay = Math.min(options.drainDelayMs, Math.max(0, remaining()));
  if (delay > 0) await sleep(delay);
  // A server that never listened (behind a PROXY-protocol front) calls back at once; its front,
  // which accepted the sockets, is in the list too and calls back when they have all closed.
  const closed: Promise<unknown>[] = servers.map(
    (server) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as HttpServer).closeIdleConnections?.();
      }),
  );
  if (options.alongside) closed.push(options.alongside(Math.max(0, remaining())).catch(() => {}));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, remaining()));
  });
  const outcome = await Promise.race([Promise.all(closed).then(() => 'drained' as const), timedOut]);
  clearTimeout(timer);
  if (outcome === 'drained') return { cut: 0 };
  let cut = 0;
  for (const server of servers) {
    cut += await new Promise<number>((resolve) => server.getConnections((_err, count) => resolve(count ?? 0)));
    (server as HttpServer).closeAllConnections?.();
  }
  // Upgraded sockets (WebSocket) are no longer the http server's to close; closeAllConnections
  // leaves them, so wait briefly for the close callbacks rather than hang on them.
  await Promise.race([Promise.all(closed), sleep(1_000)]);
  return { cut };
}

/**
 * HTTP/1: Node writes `Connection: close` and ends the socket after a response that may not keep
 * alive. HTTP/2 (RFC 9113 §6.8): GOAWAY — the session's open streams finish, no new ones start.
 * An HTTP/2 session that sends nothing during the drain closes at its idle timeout.
 */
function closeAfterResponse(req: IncomingMessage, res: ServerResponse): void {
  const stream = (req as { stream?: { session?: { closed: boolean; close(): void } } }).stream;
  if (stream === undefined) res.shouldKeepAlive = false;
  else if (stream.session && !stream.session.closed) stream.session.close();
}
