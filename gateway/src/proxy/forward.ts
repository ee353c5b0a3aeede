import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { PickContext, PoolMember } from '../balancer/picker.js';
import type { AttemptOutcome, UpstreamPool } from '../balancer/upstream-pool.js';
import { problem, writeProblem } from '../errors.js';
import { clientResponseHeaders, upstreamRequestHeaders, type ForwardedFacts } from './headers.js';
import type { RetryBudget } from './retry-budget.js';
import type { RequestObserver } from '../generation/request-observer.js';
import { pathOf, type AccessLog } from '../node/access-log.js';
import { isUpgrade, UpgradeExchange } from './upgrade.js';

/** What the proxy needs of a route; compiled once per generation. */
export interface ProxyRoute {
  readonly name: string;
  readonly pool: UpstreamPool;
  readonly budget: RetryBudget;
  readonly stripPrefix: string | undefined;
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly retries: number;
  readonly retryNonIdempotent: boolean;
  readonly bodyLimit: number;
  /** Told of the request's end (metrics), with the status the client saw (0 = cut). */
  readonly observer: RequestObserver | undefined;
  readonly accessLog: AccessLog | undefined;
}

/** One request's facts from the stages before the proxy. */
export interface ForwardRequest extends ForwardedFacts {
  /** A body already read (the route validates it); otherwise the raw request streams through. */
  body: Buffer | undefined;
  /** Headers set by earlier stages (rate-limit headers, sticky cookie…) for the client response. */
  replyHeaders: Record<string, unknown> | undefined;
  pickContext: PickContext;
  /** Lets a stage (sticky sessions) choose the first target itself. */
  preferred: PoolMember | undefined;
  /** Response headers the proxy adds once a target is known (sticky cookie). */
  onTarget: ((member: PoolMember) => Record<string, string> | undefined) | undefined;
}

/**
 * Request bodies up to this size are read before the first attempt when the route may retry
 * the request (Envoy's per-request retry buffer): a 503 from a worker with a full queue can then
 * go to another worker. Larger bodies stream through and are not replayed.
 */
export const REPLAY_BUFFER_BYTES = 64 * 1024;

const IDEMPOTENT: Record<string, true> = { GET: true, HEAD: true, OPTIONS: true, PUT: true, DELETE: true, TRACE: true };
const RETRYABLE_STATUS: Record<number, true> = { 502: true, 503: true, 504: true };

function upstreamPath(url: string, stripPrefix: string | undefined): string {
  if (!stripPrefix || !url.startsWith(stripPrefix)) return url;
  const rest = url.slice(stripPrefix.length);
  if (rest === '') return '/';
  if (rest[0] === '/') return rest;
  if (rest[0] === '?') return '/' + rest;
  // "/v1" must not strip from "/v1beta/…": only whole segments.
  return url;
}

type ErrorKind = 'connect' | 'timeout' | 'reset';

function classify(err: Error & { code?: string }): ErrorKind {
  switch (err.code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    default:
      return 'reset';
  }
}

/**
 * Forward one request to the route's pool and stream the answer back.
 *
 * One object per request drives undici's low-level dispatch API directly: no intermediate
 * streams, no promise per chunk, backpressure through the dispatch controller. Retries pick
 * another target (never the previous one when there is a choice) within the route's count and
 * the pool's retry budget. Connect errors are always retried (nothing reached the target);
 * 502/503/504 and timeouts only for idempotent methods unless the route allows it.
 */
export class ProxyExchange implements Dispatcher.DispatchHandler {
  private member: PoolMember | undefined;
  private controller: Dispatcher.DispatchController | undefined;
  private attempt = 0;
  private startedAt = 0;
  private attemptStartedAt = 0;
  private responseStarted = false;
  private finished = false;
  private streaming = false;
  private deadline = 0;
  private readonly headers: Record<string, string | string[]>;
  private readonly path: string;
  private readonly idempotent: boolean;
  private streamedBody: boolean;
  private replayBody: Buffer | undefined;
  private onDrain: (() => void) | undefined;

  constructor(
    private readonly route: ProxyRoute,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly fwd: ForwardRequest,
  ) {
    this.headers = upstreamRequestHeaders(req, fwd);
    this.path = upstreamPath(req.url ?? '/', route.stripPrefix);
    this.idempotent = IDEMPOTENT[req.method ?? 'GET'] === true;
    this.streamedBody =
      fwd.body === undefined && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0);
    if (fwd.body !== undefined) {
      this.headers['content-length'] = String(fwd.body.length);
      delete this.headers['transfer-encoding'];
    }
  }

  start(): void {
    this.startedAt = performance.now();
    this.deadline = Date.now() + this.route.timeoutMs;
    this.res.on('close', () => {
      // The client went away: stop the upstream work too (a GPU freed is worth it).
      if (this.finished) return;
      this.finished = true;
      this.clientGone = true;
      // With an attempt under way undici reports the abort (onResponseError closes the books);
      // without one (still reading a replayable body) nobody else will.
      if (this.attemptInFlight) this.controller?.abort(new Error('client closed the connection'));
      else this.finish(0);
    });
    this.route.budget.requestStarted();
    const length = Number(this.req.headers['content-length'] ?? -1);
    const mayRetryBody = this.route.retries > 0 && (this.idempotent || this.route.retryNonIdempotent);
    if (this.streamedBody && mayRetryBody && length > 0 && length <= REPLAY_BUFFER_BYTES) return this.bufferThenDispatch();
    this.dispatchAttempt();
  }

  private bufferThenDispatch(): void {
    const chunks: Buffer[] = [];
    this.req.on('data', (chunk: Buffer) => chunks.push(chunk));
    this.req.once('end', () => {
      if (this.finished) return;
      this.replayBody = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      this.streamedBody = false;
      this.headers['content-length'] = String(this.replayBody!.length);
      this.dispatchAttempt();
    });
    this.req.once('error', () => {});
  }

  private dispatchAttempt(): void {
    const pool = this.route.pool;
    let picked: PoolMember | 'no-healthy-target' | 'all-saturated';
    const preferred = this.attempt === 0 ? this.fwd.preferred : undefined;
    if (preferred) picked = preferred;
    else picked = pool.pick(this.attempt === 0 ? this.fwd.pickContext : { ...this.fwd.pickContext, previous: this.member });
    if (picked === 'no-healthy-target') return this.fail(503, 'no-healthy-target', `upstream "${pool.name}" has no healthy target`, { 'retry-after': '1' });
    if (picked === 'all-saturated') return this.fail(503, 'upstream-saturated', `every target of upstream "${pool.name}" is at its connection limit`, { 'retry-after': '1' });
    this.member = picked;
    this.attempt++;
    this.attemptStartedAt = performance.now();
    this.controller = undefined;
    pool.begin(picked);
    this.attemptInFlight = true;
    const remaining = Math.max(1, this.deadline - Date.now());
    let body: Dispatcher.DispatchOptions['body'] = null;
    if (this.fwd.body !== undefined) body = this.fwd.body;
    else if (this.replayBody !== undefined) body = this.replayBody;
    else if (this.streamedBody)
      // undici takes async iterables as bodies; its typings only name streams.
      body = this.req.headers['content-length'] === undefined ? (limitBody(this.req, this.route.bodyLimit) as unknown as Readable) : this.req;
    pool.dispatcherFor(picked).dispatch(
      {
        path: this.path,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: this.headers,
        body,
        headersTimeout: remaining,
        bodyTimeout: this.route.idleTimeoutMs,
        // Our own retry logic decides; undici must not replay bodies on its own.
        idempotent: false,
        blocking: false,
      } as Dispatcher.DispatchOptions,
      this,
    );
  }

  // ---- undici handler ----
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.finished) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return; // 1xx informational: wait for the real one
    if (RETRYABLE_STATUS[statusCode] === true && this.mayRetry('status')) {
      this.endAttempt({ status: statusCode, latencyMs: performance.now() - this.attemptStartedAt });
      this.retryAfterAbort = true;
      controller.abort(new Error('retrying on another target'));
      return;
    }
    this.responseStarted = true;
    const extra = this.fwd.onTarget?.(this.member!);
    const out = clientResponseHeaders(headers, this.fwd.requestId, extra ? { ...this.fwd.replyHeaders, ...extra } : this.fwd.replyHeaders);
    this.res.writeHead(statusCode, out as Record<string, string>);
    const type = headers['content-type'];
    this.streaming = typeof type === 'string' && type.startsWith('text/event-stream');
    // Server-Sent Events: the client should see the headers now, not with the first event.
    if (this.streaming) this.res.flushHeaders();
    this.status = statusCode;
  }
  private status = 0;
  private retryAfterAbort = false;

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.streaming && Date.now() > this.deadline) {
      controller.abort(Object.assign(new Error('route timeout exceeded while receiving the body'), { code: 'UND_ERR_BODY_TIMEOUT' }));
      return;
    }
    if (!this.res.write(chunk)) {
      controller.pause();
      this.onDrain ??= () => this.controller?.resume();
      this.res.once('drain', this.onDrain);
    }
  }

  onResponseEnd(): void {
    this.endAttempt({ status: this.status, latencyMs: performance.now() - this.attemptStartedAt });
    this.finished = true;
    this.res.end();
    this.finish(this.status);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.retryAfterAbort) {
      this.retryAfterAbort = false;
      this.dispatchAttempt();
      return;
    }
    const latencyMs = performance.now() - this.attemptStartedAt;
    if (this.clientGone) {
      // Not the target's fault: close the books on the attempt without counting a failure.
      this.endAttempt({ status: this.status || undefined, latencyMs });
      this.finish(0);
      return;
    }
    if (this.finished) return;
    if ((err as Error & { code?: string }).code === BODY_TOO_LARGE) {
      this.endAttempt({ status: undefined, latencyMs });
      return this.fail(413, 'body-too-large', `request body exceeds the route's limit of ${this.route.bodyLimit} bytes`, { connection: 'close' });
    }
    const kind = classify(err as Error & { code?: string });
    this.endAttempt({ status: this.status || undefined, latencyMs, error: kind });
    if (!this.responseStarted && this.mayRetry(kind)) return this.dispatchAttempt();
    if (this.responseStarted) {
      // Mid-stream failure: the status is already out; cutting the connection is the only honest signal.
      this.finished = true;
      this.res.destroy(err);
      this.finish(0);
      return;
    }
    if (kind === 'timeout') return this.fail(504, 'upstream-timeout', `upstream did not answer within ${this.route.timeoutMs} ms`);
    if (kind === 'connect') return this.fail(502, 'upstream-unreachable', `could not connect to upstream "${this.route.pool.name}": ${(err as Error & { code?: string }).code ?? err.message}`);
    return this.fail(502, 'upstream-error', `upstream "${this.route.pool.name}" broke the exchange: ${(err as Error & { code?: string }).code ?? err.message}`);
  }

  private clientGone = false;
  private attemptInFlight = false;
  private retryTokens = 0;
  private budgetReleased = false;

  /** The exchange is over: give back the retry budget and tell the observer (exactly once). */
  private finish(status: number): void {
    if (this.budgetReleased) return;
    this.budgetReleased = true;
    this.route.budget.requestEnded(this.retryTokens);
    const durationMs = performance.now() - this.startedAt;
    this.route.observer?.completed(this.route.name, status, durationMs);
    this.route.accessLog?.write({
      requestId: this.fwd.requestId,
      method: this.req.method ?? 'GET',
      path: pathOf(this.req.url),
      status,
      durationMs,
      route: this.route.name,
      target: this.member?.target.url,
      consumer: this.fwd.consumerName,
      clientIp: this.fwd.clientIp,
      attempts: this.attempt,
    });
  }
  private endAttempt(outcome: AttemptOutcome): void {
    this.attemptInFlight = false;
    if (!this.member) return;
    this.route.pool.end(this.member, outcome);
  }

  private mayRetry(reason: ErrorKind | 'status'): boolean {
    if (this.attempt > this.route.retries) return false;
    if (Date.now() >= this.deadline) return false;
    // A streamed request body that has started flowing cannot be replayed.
    if (this.streamedBody && this.req.readableDidRead) return false;
    // A refused connection never reached the target: retrying it is the request's first real
    // attempt, not extra load, so it is exempt from the budget.
    if (reason === 'connect') return true;
    if (!this.idempotent && !this.route.retryNonIdempotent) return false;
    if (!this.route.budget.tryRetry()) return false;
    this.retryTokens++;
    return true;
  }

  private fail(status: number, code: string, detail: string, headers: Record<string, string> = {}): void {
    this.finished = true;
    writeProblem(this.res, problem(status, code, detail, { instance: this.fwd.requestId }), {
      ...(this.fwd.replyHeaders as Record<string, string>),
      ...headers,
      'x-request-id': this.fwd.requestId,
    });
    this.finish(status);
    // Drain an unread request body so the client connection can be reused.
    if (this.streamedBody && !this.req.readableEnded) this.req.resume();
  }

  get elapsedMs(): number {
    return performance.now() - this.startedAt;
  }
}

const BODY_TOO_LARGE = 'SB_BODY_TOO_LARGE';

/**
 * A chunked request body (no content-length to check up front) streamed through a byte count:
 * past the route's limit the upstream request is aborted and the client gets 413. Bodies with a
 * content-length were already checked before the proxy and stream through untouched.
 */
async function* limitBody(req: IncomingMessage, limit: number): AsyncGenerator<Buffer> {
  let seen = 0;
  for await (const chunk of req) {
    seen += (chunk as Buffer).length;
    if (seen > limit) throw Object.assign(new Error(`request body exceeds ${limit} bytes`), { code: BODY_TOO_LARGE });
    yield chunk as Buffer;
  }
}

export function forward(route: ProxyRoute, req: IncomingMessage, res: ServerResponse, fwd: ForwardRequest): void {
  // The header test first: it is a plain property read, false for nearly every request.
  if (req.headers.upgrade !== undefined && isUpgrade(req)) new UpgradeExchange(route, req, res, fwd).start();
  else new ProxyExchange(route, req, res, fwd).start();
}
