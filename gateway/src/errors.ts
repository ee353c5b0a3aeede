import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { FieldError } from '../../spec/validate.js';
import { PROBLEMS, type ProblemCode, type ProblemStatus } from './contracts/problem-catalog.js';
import { renderError, type ErrorFormat } from './contracts/error-format.js';
import { isGrpcRequest, writeGrpcError } from './contracts/grpc-status.js';

export { codeForStatus, isProblemCode, PROBLEMS, type ProblemCode } from './contracts/problem-catalog.js';

/**
 * Every error the gateway itself produces, public or admin, is an RFC 9457 problem document
 * whose type, status and title come from the catalog (contracts/problem-catalog.ts). The `type`
 * URIs are stable identifiers operators can grep for; they need not resolve.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export { PROBLEM_CONTENT_TYPE, type ErrorFormat } from './contracts/error-format.js';

export const PROBLEM_TYPE_PREFIX = 'urn:switchboard:problem:';

type Extra = Partial<Problem>;
type Headers = Record<string, string>;
/** `(status, code, …)` with the status the catalog gives that code, as one tuple per code. */
type LongForm<Rest extends unknown[]> = { [C in ProblemCode]: [status: ProblemStatus<C>, code: C, detail: string, ...rest: Rest] }[ProblemCode];

/**
 * The problem document for `code`. The short form `problem(code, detail)` is the one to write;
 * the long form `problem(status, code, detail)` is kept for call sites written before the
 * catalog, and its status must be the catalog's (a mismatch does not compile).
 */
export function problem(...args: [code: ProblemCode, detail: string, extra?: Extra] | LongForm<[extra?: Extra]>): Problem {
  const long = typeof args[0] === 'number';
  const code = (long ? args[1] : args[0]) as ProblemCode;
  const detail = (long ? args[2] : args[1]) as string;
  const extra = (long ? args[3] : args[2]) as Extra | undefined;
  const entry = PROBLEMS[code] ?? PROBLEMS.internal;
  return { type: PROBLEM_TYPE_PREFIX + code, title: entry.title, status: entry.status, detail, ...extra };
}

/** An error that carries its problem document; thrown anywhere, rendered at the edge. */
export class ProblemError extends Error {
  readonly problem: Problem;
  readonly headers: Record<string, string>;
  constructor(...args: [code: ProblemCode, detail: string, extra?: Extra, headers?: Headers] | LongForm<[extra?: Extra, headers?: Headers]>) {
    const long = typeof args[0] === 'number';
    const code = (long ? args[1] : args[0]) as ProblemCode;
    const detail = (long ? args[2] : args[1]) as string;
    super(detail);
    this.name = 'ProblemError';
    this.problem = problem(code, detail, (long ? args[3] : args[2]) as Extra | undefined);
    this.headers = ((long ? args[4] : args[3]) as Headers | undefined) ?? {};
  }
  get statusCode(): number {
    return this.problem.status;
  }
}

/**
 * Write a problem straight to a raw response (the proxy's hijacked path, the WebSocket path, the
 * fast lane), in the route's error format (contracts/error-format.ts; problem+json by default).
 */
export function writeProblem(res: ServerResponse, p: Problem, headers: Record<string, string | number> = {}, format?: ErrorFormat): void {
  if (res.headersSent) {
    // Too late for a status: the client sees a cut stream, which is the honest signal.
    res.destroy();
    return;
  }
  // gRPC clients read a status from trailers, whatever the route's error format (contracts/grpc-status.ts).
  if (isGrpcRequest(res.req?.headers['content-type'])) return writeGrpcError(res, p, headers);
  const { contentType, body } = renderError(format, p);
  res.writeHead(p.status, {
    ...headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/**
 * Send a problem through Fastify (admin API, stages, the public listener's own answers). The
 * body goes as a string, so no route's response schema can reshape or strip it; the request id
 * goes with it, as on every answer of the public listener.
 */
export function sendProblem(reply: FastifyReply, p: Problem, headers: Record<string, string> = {}, format?: ErrorFormat): FastifyReply {
  if (isGrpcRequest(reply.request.headers['content-type'])) {
    reply.hijack();
    writeGrpcError(reply.raw, p, { ...headers, 'x-request-id': reply.request.id });
    return reply;
  }
  const { contentType, body } = renderError(format, p);
  return reply.code(p.status).headers(headers).header('x-request-id', reply.request.id).type(contentType).send(body);
}
