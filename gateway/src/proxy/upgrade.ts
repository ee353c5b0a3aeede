import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { PoolMember } from '../balancer/picker.js';
import { traceOf, type AttemptSpan, type RequestTrace } from '../contracts/request-tracer.js';
import { problem, writeProblem } from '../errors.js';
import { closeBooks } from './close-books.js';
import { Attempts, classify, RETRYABLE_STATUS, type Failure } from './attempts.js';
import type { ForwardRequest, ProxyRoute } from './proxy-route.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';

/** Bytes the client sent after its handshake, handed over by the node's 'upgrade' listener. */
export const UPGRADE_HEAD = Symbol('switchboard.upgradeHead');
type UpgradingRequest = IncomingMessage & { [UPGRADE_HEAD]?: Buffer };

/** Whether this request arrived through the server's 'upgrade' event (WebSocket and the like). */
export function isUpgrade(req: IncomingMessage): boolean {
  return (req as UpgradingRequest)[UPGRADE_HEAD] !== undefined;
}

/**
 * A protocol upgrade (WebSocket, e.g. OpenAI's Realtime API) through the route's pool: the
 * handshake goes to one target like any request — after the route's stages, so keys, JWTs and
 * limits apply — and once the target answers 101 the two sockets are joined byte for byte
 * until either side closes. A handshake that fails before any answer (refused, timed out,
 * reset) or that the target declines with 502, 503 or 504 is retried on another target by the
 * route's retry policy (attempts.ts: `retries`, the retry budget, every tried target avoided),
 * as a GET answered so would be: it carries no body and nothing reached the client yet. Any
 * other declining answer, or the last one, is relayed as is. It is counted, logged and traced
 * as one request whose status is the handshake's (101 once joined) and whose duration is the
 * tunnel's whole life, as nginx logs a WebSocket at its close.
 */
export class UpgradeExchange implements Dispatcher.DispatchHandler {
  private readonly attempts: Attempts;
  /** The target of the attempt in flight (or of the last one). */
  private member: PoolMember | undefined;
  private startedAt = 0;
  private attemptStartedAt = 0;
  private ended = false;
  private status = 0;
  /** Set only when tracing is on (contracts/request-tracer.ts). */
  private readonly trace: RequestTrace | undefined;
  private span: AttemptSpan | undefined;
  /** The dispatch of the attempt in flight; an abandoned attempt's late callbacks are not its. */
  private controller: Dispatcher.DispatchController | undefined;

  constructor(
    private readonly route: ProxyRoute,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly fwd: ForwardRequest,
  ) {
    this.trace = traceOf(req);
    this.trace?.matched(route.name, fwd.consumerName);
    this.attempts = new Attempts(route, 'GET');
  }

  start(): void {
    this.startedAt = performance.now();
    this.attempt();
  }

  /** Send the handshake to the next target; `after` is the failure that made this a retry. */
  private attempt(after?: { failure: Exclude<Failure, 'status'>; err: Error & { code?: string } }): void {
    const picked = this.attempts.next(this.fwd.pickContext, this.fwd.preferred);
    // A retry with no other target to go to answers with the failure it retries.
    if (typeof picked === 'string' && after !== undefined) return this.failAfter(after.failure, after.err);
    if (picked === 'no-healthy-target' || picked === 'all-saturated') {
      const why = picked === 'all-saturated' ? 'every target is at its connection limit' : 'no target is healthy';
      writeProblem(this.res, problem(picked, `upstream "${this.route.pool.name}" cannot take this upgrade: ${why}`, { instance: this.fwd.requestId }), {
        'x-request-id': this.fwd.requestId,
        'retry-after': '1',
      });
      return this.finish(503);
    }
    this.member = picked;
    this.attemptStartedAt = performance.now();
    this.route.pool.begin(picked);
    const headers = upstreamRequestHeaders(this.req, this.fwd);
    if (this.trace) this.span = this.trace.attempt(headers, { target: picked.target.url, upstream: this.route.pool.name, fallback: false });
    this.route.pool.dispatcherFor(picked).dispatch(
      {
        path: this.req.url ?? '/',
        method: 'GET',
        headers,
        upgrade: String(this.req.headers.upgrade ?? 'websocket'),
        headersTimeout: this.attempts.headersTimeout(),
      } as Dispatcher.DispatchOptions,
      this,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
  }

  onRequestUpgrade(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, upstream: Duplex): void {
    this.status = statusCode;
    // The handshake is answered: its retries are over, though the tunnel may live for hours.
    this.attempts.retriesOver();
    // The head is written raw below; the status is what the server span and the access line read.
    this.res.statusCode = statusCode;
    const client = this.res.socket;
    if (!client) {
      upstream.destroy();
      return this.end(undefined);
    }
    this.res.detachSocket(client);
    const out = clientResponseHeaders(headers, this.fwd.requestId, undefined);
    let head = `HTTP/1.1 ${statusCode} Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${headers.upgrade ?? this.req.headers.upgrade}\r\n`;
    for (const [name, value] of Object.entries(out)) for (const v of ([] as unknown[]).concat(value)) head += `${name}: ${v}\r\n`;
    client.write(head + '\r\n');
    const early = (this.req as UpgradingRequest)[UPGRADE_HEAD];
    if (early && early.length) upstream.write(early);
    // Long-lived by nature, but not forever silent: every byte either way passes through both
    // sockets (one reads it, the other writes it), so either one idle for the route's
    // upgradeIdleTimeoutMs means the tunnel carried nothing that long; both sides are closed.
    const idleMs = this.route.upgradeIdleTimeoutMs;
    (upstream as Duplex & { setTimeout?: (ms: number) => void }).setTimeout?.(idleMs);
    (client as Duplex & { setTimeout?: (ms: number) => void }).setTimeout?.(idleMs);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      client.destroy();
      upstream.destroy();
      this.end(undefined);
      // The socket left the response at the handshake, so the response cannot see it close;
      // the generation counts this request as in flight until it hears 'close'.
      this.res.emit('close');
    };
    upstream.on('error', close).on('close', close).on('timeout', close);
    client.on('error', close).on('close', close).on('timeout', close);
    upstream.pipe(client);
    client.pipe(upstream);
  }

  // The target declined the upgrade: try another if it could not serve now, else relay its answer.
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (controller !== this.controller) return;
    if (RETRYABLE_STATUS[statusCode] === true && this.res.socket && this.attempts.mayRetry('status', true)) {
      this.closeAttempt(statusCode, undefined);
      // Its body and its end are no longer this exchange's (the callbacks check the controller).
      this.controller = undefined;
      controller.abort(new Error('retrying the upgrade on another target'));
      return this.attempt();
    }
    this.status = statusCode;
    this.res.writeHead(statusCode, clientResponseHeaders(headers, this.fwd.requestId, undefined) as Record<string, string>);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (controller === this.controller) this.res.write(chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController): void {
    if (controller !== this.controller) return;
    this.res.end();
    this.end(undefined);
  }

  onResponseError(controller: Dispatcher.DispatchController, err: Error & { code?: string }): void {
    if (this.ended || controller !== this.controller) return;
    const failure = classify(err);
    if (this.status !== 0 || this.res.headersSent || !this.res.socket) {
      // A declined upgrade's answer broke midway, or the client is gone: nothing to retry.
      this.res.destroy();
      return this.end(failure);
    }
    this.closeAttempt(undefined, failure);
    if (this.attempts.mayRetry(failure, true)) return this.attempt({ failure, err });
    this.failAfter(failure, err);
  }

  private failAfter(failure: Exclude<Failure, 'status'>, err: Error & { code?: string }): void {
    const code = failure === 'timeout' ? 'upstream-timeout' : failure === 'connect' ? 'upstream-unreachable' : 'upstream-error';
    const detail = `upgrade to upstream "${this.route.pool.name}" failed: ${err.code ?? err.message} (${this.attempts.count} attempt(s))`;
    const answer = problem(code, detail, { instance: this.fwd.requestId });
    writeProblem(this.res, answer, { 'x-request-id': this.fwd.requestId });
    // The status is the catalog's for the code (504 for a timeout, 502 otherwise).
    this.status = answer.status;
    this.ended = true;
    this.finish(this.status);
  }

  /** The attempt in flight is over: its target's books and its span. */
  private closeAttempt(status: number | undefined, error: Exclude<Failure, 'status'> | undefined): void {
    const member = this.member;
    if (member === undefined) return;
    this.member = undefined;
    this.route.pool.end(member, { status, latencyMs: performance.now() - this.attemptStartedAt, error });
    this.span?.end(status, error);
    this.span = undefined;
  }

  /** The exchange is over (tunnel closed, declined answer relayed, or broken). */
  private end(error: Exclude<Failure, 'status'> | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.closeAttempt(this.status || undefined, error);
    this.finish(this.status);
  }

  private finish(status: number): void {
    closeBooks(this.route, this.req, this.fwd, this.attempts, this.trace, status, performance.now() - this.startedAt);
  }
}
