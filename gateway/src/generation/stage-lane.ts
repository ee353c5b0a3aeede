import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'fast-querystring';
import { problem, writeProblem, type Problem } from '../errors.js';
import type { Caller } from '../contracts/caller.js';
import type { ErrorFormat } from '../contracts/error-format.js';
import type { ResponseTap } from '../contracts/response-tap.js';
import { traceOf } from '../contracts/request-tracer.js';
import type { RouteProxy } from '../proxy/route-proxy.js';
import { toProblem } from './fastify-problems.js';
import { bodyTooLargeDetail, declaredLength } from './body-limit.js';
import { runHooks } from './hook-chain.js';
import type { StageHook, StageReply, StageRequest } from './route-stage.js';
import type { ReadBody, Serve } from './route-select.js';
import type { SelfAnswered } from './self-answered.js';

/**
 * A querystring validator as the route's validator compiler makes it (ajv): false with `errors`
 * when the query does not match. Values may be coerced in place; the raw URL is what goes upstream.
 */
export type QueryValidator = ((query: unknown) => unknown) & { errors?: unknown };

/** A staged route as its stage lane serves it. */
export interface StageLaneRoute {
  readonly name: string;
  readonly errorFormat: ErrorFormat | undefined;
  readonly onRequest: readonly StageHook[];
  readonly preHandler: readonly StageHook[];
  /** `this` for the hooks: the shared scope Fastify would bind them to. */
  readonly scope: unknown;
  readonly query: QueryValidator | undefined;
  readonly proxy: RouteProxy;
}

export interface StageLaneServices {
  readonly answered: SelfAnswered | undefined;
  /** Where an unexpected failure inside a stage is logged (a 5xx the gateway answers). */
  readonly logger: { error(obj: object, msg: string): void };
}

/**
 * A staged route served without Fastify: its hooks run on a StageRequest and a StageReply made
 * here, in Fastify's order and with its semantics — onRequest hooks, the body's size against the
 * route's limit, the querystring schema, preHandler hooks, then the proxy — and a refusal is
 * answered, counted and logged as Fastify's error handler and the generation's onResponse hook
 * do it (compile.ts). For a route whose body is not read (no body schema, no meterStreams), that
 * is all Fastify did, and its request and reply objects, its second routing, hook runners,
 * content-type dispatch and onResponse bookkeeping cost a keyed request 3.5 µs (both builds in
 * one process against nginx upstreams, 73.1 → 69.6) to 17 µs (`node
 * dist/test/bench/pipeline-cost.js`, the api-key row, +20.2 → +3.1) of CPU here. Routes that
 * read their body, or have a hook that needs Fastify's own request, stay in Fastify.
 */
export function stageLane(route: StageLaneRoute, services: StageLaneServices): Serve {
  return (req, res, requestId, body) => new LaneExchange(route, services, req, res, requestId, body).run();
}

/**
 * One request on a stage lane: the StageRequest, the StageReply, and the phases between them, in
 * one object (one allocation per request; the two contracts share no member name).
 */
class LaneExchange implements StageRequest, StageReply {
  // StageRequest
  readonly headers: IncomingHttpHeaders;
  readonly method: string;
  caller: Caller | undefined = undefined;
  consumedHeaders: string[] | undefined = undefined;
  rawBody: Buffer | undefined;
  readonly body: unknown = undefined;
  responseTap: ResponseTap | undefined = undefined;
  // StageReply
  sent = false;
  private status = 200;
  private replyHeaders: Record<string, string | number | string[]> | undefined = undefined;
  private readonly startedAt = performance.now();

  constructor(
    private readonly route: StageLaneRoute,
    private readonly services: StageLaneServices,
    readonly raw: IncomingMessage,
    private readonly res: ServerResponse,
    readonly id: string,
    read: ReadBody | undefined,
  ) {
    this.headers = raw.headers;
    this.method = raw.method!;
    // A selector that read the body for its choice (route-select.ts) hands its bytes on.
    this.rawBody = read?.bytes;
  }

  run(): void {
    runHooks(this.route.onRequest, this.route.scope, this, this, (err) => (err ? this.refuse(err) : this.afterOnRequest()));
  }

  private afterOnRequest(): void {
    // Fastify's body parser for a route that streams its body: only the declared size is checked here.
    if (this.rawBody === undefined) {
      const length = declaredLength(this.headers);
      const limit = this.route.proxy.bodyLimit;
      if (length > limit) {
        // The body stays unread: the connection cannot be reused.
        this.header('connection', 'close');
        return this.answer(problem('body-too-large', bodyTooLargeDetail(length, limit), { instance: this.id }), {});
      }
    }
    const validate = this.route.query;
    if (validate !== undefined) {
      const url = this.raw.url!;
      const q = url.indexOf('?');
      const query = q === -1 || q === url.length - 1 ? {} : parseQuery(url.slice(q + 1));
      if (validate(query) === false) return this.refuse(Object.assign(new Error('querystring does not match'), { validation: validate.errors as never, validationContext: 'querystring' as const }));
    }
    runHooks(this.route.preHandler, this.route.scope, this, this, (err) => (err ? this.refuse(err) : this.forward()));
  }

  private forward(): void {
    const caller = this.caller;
    this.route.proxy.forward(this.raw, this.res, this.id, {
      consumerName: caller?.name,
      consumed: this.consumedHeaders,
      consumer: caller?.consumer,
      body: this.rawBody,
      replyHeaders: this.replyHeaders,
      tap: this.responseTap,
    });
  }

  /** A hook's error, as the generation's error handler renders it (compile.ts). */
  private refuse(err: Error): void {
    if (this.sent) return;
    const { p, headers } = toProblem(err, this.id);
    if (p.status >= 500) this.services.logger.error({ err, requestId: this.id }, 'request failed inside the gateway');
    this.answer(p, headers);
  }

  private answer(p: Problem, headers: Record<string, string>): void {
    this.sent = true;
    writeProblem(this.res, p, { ...this.replyHeaders, ...headers, 'x-request-id': this.id }, this.route.errorFormat);
    this.answered(p.status);
  }

  /** Counted and logged like Fastify's onResponse hook counts what the gateway answers itself. */
  private answered(status: number): void {
    const consumer = this.caller?.name;
    traceOf(this.raw)?.matched(this.route.name, consumer);
    this.services.answered?.(this.raw, this.id, status, this.route.name, performance.now() - this.startedAt, consumer);
  }

  // StageReply, as Fastify's reply does it for what stages use.
  header(name: string, value: string | number): this {
    const headers = (this.replyHeaders ??= {});
    headers[name.toLowerCase()] = value;
    return this;
  }

  code(status: number): this {
    this.status = status;
    return this;
  }

  send(payload?: string): this {
    if (this.sent) return this;
    this.sent = true;
    const res = this.res;
    if (this.replyHeaders !== undefined) for (const name in this.replyHeaders) res.setHeader(name, this.replyHeaders[name]!);
    // Every answer of the public listener carries its request id, this one too.
    res.setHeader('x-request-id', this.id);
    res.statusCode = this.status;
    res.end(payload);
    this.answered(this.status);
    return this;
  }
}
