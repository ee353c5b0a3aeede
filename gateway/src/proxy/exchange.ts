import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { PoolMember } from '../balancer/picker.js';
import type { AttemptOutcome } from '../balancer/upstream-pool.js';
import type { FlowQueue, QueueRefusal, QueueTicket } from '../balancer/flow-queue.js';
import { problem, writeProblem, type ProblemCode } from '../errors.js';
import { traceOf, type AttemptSpan, type RequestTrace } from '../contracts/request-tracer.js';
import { closeBooks } from './close-books.js';
import { Attempts, classify, RETRYABLE_STATUS, type Failure } from './attempts.js';
import { FALLBACK_STATUS, withModel } from './fallbacks.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';
import type { ForwardRequest, ProxyRoute } from './proxy-route.js';

/**
 * Request bodies up to this size are read before the first attempt when the route may retry
 * the request (Envoy's per-request retry buffer): a 503 from a worker with a full queue can then
 * go to another worker. Larger bodies stream through and are not replayed.
 */
export const REPLAY_BUFFER_BYTES = 64 * 1024;

const BODY_TOO_LARGE = 'SB_BODY_TOO_LARGE';

/** Where one request is: the single source of "is it over?". */
type Phase = 'reading-body' | 'attempting' | 'responding' | 'done';

function upstreamPath(url: string, stripPrefix: string | undefined): string {
  if (!stripPrefix || !url.startsWith(stripPrefix)) return url;
  const rest = url.slice(stripPrefix.length);
  if (rest === '') return '/';
  if (rest[0] === '/') return rest;
  if (rest[0] === '?') return '/' + rest;
  // "/v1" must not strip from "/v1beta/…": only whole segments.
  return url;
}

/**
 * One attempt to one target: undici's dispatch handler for it. It only relays to the exchange,
 * and once abandoned (a retryable status, the client gone) it relays nothing more, so a retry is
 * a new Attempt rather than a flag read when the old one's abort comes back.
 */
class Attempt implements Dispatcher.DispatchHandler {
  readonly startedAt = performance.now();
  controller: Dispatcher.DispatchController | undefined;
  abandoned = false;
  /** Its CLIENT span, when the request is traced. */
  span: AttemptSpan | undefined;

  constructor(
    private readonly exchange: ProxyExchange,
    readonly member: PoolMember,
  ) {}

  abandon(reason: string): void {
    this.abandoned = true;
    this.controller?.abort(new Error(reason));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abandoned) controller.abort(new Error('client closed the connection'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // 1xx informational: wait for the real one.
    if (statusCode >= 200 && !this.abandoned) this.exchange.responseStarted(this, statusCode, headers);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.abandoned) this.exchange.responseData(controller, chunk);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (!this.abandoned) this.exchange.responseEnded(this, trailers);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (!this.abandoned) this.exchange.attemptFailed(this, err);
  }
}

/**
 * Forward one request to the route's pool and stream the answer back.
 *
 * One object per request drives undici's low-level dispatch API directly: no intermediate
 * streams, no promise per chunk, backpressure through the dispatch controller. Which target each
 * attempt goes to and whether a failure may be retried is attempts.ts; this class moves bytes,
 * answers the client and closes the books once.
 */
export class ProxyExchange {
  // ---- the request, fixed at the start ----
  private readonly startedAt = performance.now();
  private readonly headers: Record<string, string | string[]>;
  private readonly path: string;
  private attempts: Attempts;
  /** Set only when tracing is on (contracts/request-tracer.ts); off, the proxy pays this one read. */
  private readonly trace: RequestTrace | undefined;
  /** The next of the route's fallbacks to try (fallbacks.ts). */
  private hop = 0;
  /** The raw request streams to the target (no body read by a stage, none buffered yet). */
  private streamedBody: boolean;
  private replayBody: Buffer | undefined;
  // ---- where it is ----
  private phase: Phase = 'attempting';
  private attempt: Attempt | undefined;
  private clientGone = false;
  private status = 0;
  /** Server-Sent Events: bounded by the idle timeout only, flushed at once. */
  private streaming = false;
  private onDrain: (() => void) | undefined;
  /** grpc-status/grpc-message of a head that carried them (a trailers-only gRPC answer). */
  private grpcHead: Record<string, string | string[] | undefined> | undefined;
  /** A stage's tap on the answer (token metering), from the response head on. */
  private tap: import('../contracts/response-tap.js').ResponseTap | undefined;
  /** Waiting in the pool's queue for a slot (flow control). */
  private ticket: QueueTicket | undefined;
  /** Released from the queue: its pick must not join the queue behind others again. */
  private released = false;

  constructor(
    private route: ProxyRoute,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly fwd: ForwardRequest,
  ) {
    this.headers = upstreamRequestHeaders(req, fwd);
    this.path = upstreamPath(req.url ?? '/', route.stripPrefix);
    this.streamedBody =
      fwd.body === undefined && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0 || hasH2Body(req));
    if (fwd.body !== undefined) {
      this.headers['content-length'] = String(fwd.body.length);
      delete this.headers['transfer-encoding'];
    }
    this.attempts = new Attempts(route, req.method ?? 'GET');
    this.trace = traceOf(req);
    this.trace?.matched(route.name, fwd.consumerName);
  }

  start(): void {
    this.res.on('close', () => this.clientClosed());
    const length = Number(this.req.headers['content-length'] ?? -1);
    if (this.route.keyFromBody !== undefined) {
      // prefix-affinity: the pick's key is in the body, so the body is read before the pick.
      if (this.fwd.body !== undefined) this.keyFromBody(this.fwd.body);
      else if (this.streamedBody) return this.bufferBody();
    }
    if (this.streamedBody && this.attempts.retriesOnTimeout && length > 0 && length <= REPLAY_BUFFER_BYTES) return this.bufferBody();
    this.dispatchNext();
  }

  /** The client went away: stop the upstream work too (a GPU freed is worth it). */
  private clientClosed(): void {
    if (this.phase === 'done') return;
    this.clientGone = true;
    // Waiting in the queue: leave it, so the slot goes to someone still there.
    this.ticket?.cancel();
    this.ticket = undefined;
    const attempt = this.attempt;
    // Still reading a replayable body: no attempt to stop.
    if (!attempt) return this.finish(0);
    attempt.abandon('client closed the connection');
    this.attemptFailed(attempt, new Error('client closed the connection'));
  }

  private bufferBody(): void {
    this.phase = 'reading-body';
    const chunks: Buffer[] = [];
    let seen = 0;
    this.req.on('data', (chunk: Buffer) => {
      // Chunked bodies have no content-length checked up front: count them here.
      seen += chunk.length;
      if (seen <= this.route.bodyLimit) chunks.push(chunk);
      else if (this.phase === 'reading-body')
        this.fail('body-too-large', `request body exceeds the route's limit of ${this.route.bodyLimit} bytes`, { connection: 'close' });
    });
    this.req.once('end', () => {
      if (this.phase === 'done') return;
      this.phase = 'attempting';
      this.replayBody = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      this.streamedBody = false;
      this.headers['content-length'] = String(this.replayBody!.length);
      if (this.route.keyFromBody !== undefined) this.keyFromBody(this.replayBody!);
      this.dispatchNext();
    });
    this.req.once('error', () => {});
  }

  private dispatchNext(): void {
    const pool = this.route.pool;
    const queue = pool.queue;
    // Behind requests already waiting, a newcomer waits too: a freed slot is theirs first.
    if (queue !== undefined && queue.size > 0 && !this.released && this.attempts.count === 0 && this.fwd.preferred === undefined) return this.wait(queue);
    const picked = this.attempts.next(this.fwd.pickContext, this.fwd.preferred);
    if (typeof picked === 'string' && this.fallBack(picked)) return;
    if (picked === 'no-healthy-target') return this.fail('no-healthy-target', `upstream "${pool.name}" has no healthy target`, { 'retry-after': '1' });
    if (picked === 'all-saturated' && queue !== undefined) return this.wait(queue);
    if (picked === 'all-saturated') return this.fail('all-saturated', `every target of upstream "${pool.name}" is at its connection limit`, { 'retry-after': '1' });
    const attempt = (this.attempt = new Attempt(this, picked));
    pool.begin(picked);
    if (this.trace) attempt.span = this.trace.attempt(this.headers, { target: picked.target.url, upstream: pool.name, fallback: this.hop > 0 });
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
        headersTimeout: this.attempts.headersTimeout(),
        bodyTimeout: this.route.idleTimeoutMs,
        // Our own retry logic decides; undici must not replay bodies on its own.
        idempotent: false,
        blocking: false,
      } as Dispatcher.DispatchOptions,
      attempt,
    );
  }

  /**
   * Flow control: wait in the pool's queue, before any target is picked and holding no upstream
   * socket, until the pool hands this request a freed slot (balancer/flow-queue.ts) or refuses it.
   */
  private wait(queue: FlowQueue): void {
    const flow = this.fwd.flowClass;
    this.ticket = queue.enqueue({
      flow: this.fwd.consumerName ?? '',
      weight: flow?.weight ?? 1,
      priority: flow?.priority ?? 0,
      release: () => {
        this.ticket = undefined;
        this.released = true;
        this.dispatchNext();
      },
      refuse: (reason) => {
        this.ticket = undefined;
        this.queueRefused(queue, reason);
      },
    });
    if (this.ticket === undefined) this.queueRefused(queue, 'full');
  }

  private queueRefused(queue: FlowQueue, reason: QueueRefusal): void {
    const pool = this.route.pool.name;
    if (reason === 'timeout')
      // The backlog that outlasted one timeout is likely still there: come back after about as long.
      return this.fail('queue-timeout', `waited ${queue.timeoutMs} ms in the queue of upstream "${pool}" for a free target`, {
        'retry-after': String(Math.max(1, Math.ceil(queue.timeoutMs / 1000))),
      });
    if (reason === 'closed') return this.fail('queue-full', `upstream "${pool}" was reconfigured while the request waited in its queue`, { 'retry-after': '1' });
    this.fail('queue-full', `the queue of upstream "${pool}" is full (${queue.maxSize} requests waiting for a free target)`, { 'retry-after': '1' });
  }

  private keyFromBody(body: Buffer): void {
    this.fwd.pickContext = { clientIp: this.fwd.pickContext.clientIp, hashKey: this.route.keyFromBody!(body) };
  }

  /** The request body can be sent again: none, buffered, or a stream nothing has read yet. */
  private get replayable(): boolean {
    return !(this.streamedBody && this.req.readableDidRead);
  }

  /** The attempt is over for the pool: latency, passive health, in-flight count. */
  private closeAttempt(attempt: Attempt, outcome: AttemptOutcome): void {
    if (this.attempt === attempt) this.attempt = undefined;
    this.route.pool.end(attempt.member, outcome);
    attempt.span?.end(outcome.status, outcome.error);
  }

  private canFallBack(): boolean {
    const hops = this.route.fallbacks ?? this.primaryHops;
    return hops !== undefined && this.hop < hops.length && this.replayable && Date.now() < this.attempts.deadline;
  }

  /** The route's primary ProxyRoute holds the hops; a hop's own route has none. */
  private primaryHops: ProxyRoute['fallbacks'];

  /** Send the request to the route's next fallback pool; false when there is none left (fallbacks.ts). */
  private fallBack(reason: string): boolean {
    if (!this.canFallBack()) return false;
    const hops = (this.primaryHops ??= this.route.fallbacks)!;
    const next = hops[this.hop++]!;
    const from = this.route.pool.name;
    const notice = this.route.fellBack;
    this.attempts.settle();
    this.attempts = new Attempts(next.route, this.req.method ?? 'GET', this.attempts.deadline);
    this.route = next.route;
    if (next.rewriteModel !== undefined && this.fwd.body !== undefined) {
      const rewritten = withModel(this.fwd.body, next.rewriteModel);
      if (rewritten !== undefined) {
        this.fwd.body = rewritten;
        this.headers['content-length'] = String(rewritten.length);
      }
    }
    notice?.(this.route.name, from, next.route.pool.name, reason, this.fwd.requestId);
    this.dispatchNext();
    return true;
  }

  // ---- told by the current Attempt ----

  responseStarted(attempt: Attempt, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (RETRYABLE_STATUS[statusCode] === true && this.attempts.mayRetry('status', this.replayable)) {
      this.closeAttempt(attempt, { status: statusCode, latencyMs: performance.now() - attempt.startedAt });
      attempt.abandon('retrying on another target');
      return this.dispatchNext();
    }
    if (FALLBACK_STATUS[statusCode] === true && this.canFallBack()) {
      this.closeAttempt(attempt, { status: statusCode, latencyMs: performance.now() - attempt.startedAt });
      attempt.abandon('falling back to the next pool');
      this.fallBack(String(statusCode));
      return;
    }
    this.phase = 'responding';
    this.status = statusCode;
    const extra = this.fwd.onTarget?.(attempt.member);
    const out = clientResponseHeaders(headers, this.fwd.requestId, extra ? { ...this.fwd.replyHeaders, ...extra } : this.fwd.replyHeaders);
    this.res.writeHead(statusCode, out as Record<string, string>);
    const type = headers['content-type'];
    this.streaming = typeof type === 'string' && type.startsWith('text/event-stream');
    // gRPC trailers-only answer (status in the head, no body): the client reads it from trailers.
    if (headers['grpc-status'] !== undefined) this.grpcHead = { 'grpc-status': headers['grpc-status'], 'grpc-message': headers['grpc-message'] };
    if (this.fwd.tap !== undefined) (this.tap = this.fwd.tap).started(statusCode, headers);
    // Server-Sent Events: the client should see the headers now, not with the first event.
    if (this.streaming) this.res.flushHeaders();
  }

  responseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.streaming && Date.now() > this.attempts.deadline) {
      controller.abort(Object.assign(new Error('route timeout exceeded while receiving the body'), { code: 'UND_ERR_BODY_TIMEOUT' }));
      return;
    }
    if (this.tap !== undefined) {
      chunk = this.tap.data(chunk);
      if (chunk.length === 0) return;
    }
    if (!this.res.write(chunk)) {
      controller.pause();
      this.onDrain ??= () => this.attempt?.controller?.resume();
      this.res.once('drain', this.onDrain);
    }
  }

  responseEnded(attempt: Attempt, trailers?: Record<string, string | string[] | undefined>): void {
    this.closeAttempt(attempt, { status: this.status, latencyMs: performance.now() - attempt.startedAt });
    // HTTP/2 trailers (gRPC's grpc-status and grpc-message) go on to the client as trailers.
    if (trailers !== undefined) for (const _ in trailers) return this.endWithTrailers(trailers);
    if (this.grpcHead !== undefined) return this.endWithTrailers(this.grpcHead);
    const held = this.tap?.ended();
    this.tap = undefined;
    if (held !== undefined && held.length > 0) this.res.end(held);
    else this.res.end();
    this.finish(this.status);
  }

  private endWithTrailers(trailers: Record<string, string | string[] | undefined>): void {
    const out: Record<string, string | string[]> = {};
    for (const name in trailers) {
      const value = trailers[name];
      if (value !== undefined && name.charCodeAt(0) !== 0x3a) out[name] = value;
    }
    const held = this.tap?.ended();
    this.tap = undefined;
    if (held !== undefined && held.length > 0) this.res.write(held);
    this.res.addTrailers(out);
    this.res.end();
    this.finish(this.status);
  }

  attemptFailed(attempt: Attempt, err: Error & { code?: string }): void {
    // An abandoned attempt's own abort coming back: its books are closed already.
    if (attempt !== this.attempt) return;
    const latencyMs = performance.now() - attempt.startedAt;
    if (this.clientGone) {
      // Not the target's fault: close the books on the attempt without counting a failure.
      this.closeAttempt(attempt, { status: this.status || undefined, latencyMs });
      return this.finish(0);
    }
    if (err.code === BODY_TOO_LARGE) {
      this.closeAttempt(attempt, { status: undefined, latencyMs });
      return this.fail('body-too-large', `request body exceeds the route's limit of ${this.route.bodyLimit} bytes`, { connection: 'close' });
    }
    const kind = classify(err);
    this.closeAttempt(attempt, { status: this.status || undefined, latencyMs, error: kind });
    if (this.phase === 'responding') {
      // Mid-stream failure: the status is already out; cutting the connection is the only honest signal.
      this.res.destroy(err);
      return this.finish(0);
    }
    if (this.attempts.mayRetry(kind, this.replayable)) return this.dispatchNext();
    this.failAfter(kind, err);
  }

  // ---- the end ----

  private failAfter(kind: Exclude<Failure, 'status'>, err: Error & { code?: string }): void {
    const pool = this.route.pool.name;
    if (kind === 'timeout') {
      const perTry = this.route.perTryTimeoutMs === undefined ? '' : `, ${this.route.perTryTimeoutMs} ms per try`;
      return this.fail('upstream-timeout', `upstream "${pool}" did not answer within the route's timeout (${this.route.timeoutMs} ms${perTry}; ${this.attempts.count} attempt(s))`);
    }
    if (kind === 'connect') return this.fail('upstream-unreachable', `could not connect to upstream "${pool}": ${err.code ?? err.message}`);
    return this.fail('upstream-error', `upstream "${pool}" broke the exchange: ${err.code ?? err.message}`);
  }

  private fail(code: ProblemCode, detail: string, headers: Record<string, string> = {}): void {
    const p = problem(code, detail, { instance: this.fwd.requestId });
    writeProblem(this.res, p, { ...(this.fwd.replyHeaders as Record<string, string>), ...headers, 'x-request-id': this.fwd.requestId }, this.route.errorFormat);
    this.finish(p.status);
    // Drain an unread request body so the client connection can be reused.
    if (this.streamedBody && !this.req.readableEnded) this.req.resume();
  }

  /** The exchange is over: give back the retry budget and tell the observer (exactly once). */
  private finish(status: number): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.tap?.aborted();
    closeBooks(this.route, this.req, this.fwd, this.attempts, this.trace, status, performance.now() - this.startedAt);
  }
}

/**
 * An HTTP/2 request carries a body unless its HEADERS frame ended the stream (RFC 9113 §8.1):
 * h2 has no transfer-encoding, and gRPC clients send no content-length.
 */
function hasH2Body(req: IncomingMessage): boolean {
  if (req.httpVersionMajor !== 2) return false;
  const stream = (req as unknown as { stream?: { endAfterHeaders?: boolean } }).stream;
  return stream !== undefined && stream.endAfterHeaders !== true;
}

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
