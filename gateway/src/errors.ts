import type { ServerResponse } from 'node:http';
import type { FieldError } from '../../spec/validate.js';

/**
 * Every error the gateway itself produces, public or admin, is an RFC 9457 problem document.
 * The `type` URIs are stable identifiers operators can grep for; they need not resolve.
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

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export function problem(status: number, code: string, detail: string, extra: Partial<Problem> = {}): Problem {
  return { type: `urn:switchboard:problem:${code}`, title: TITLES[status] ?? 'Error', status, detail, ...extra };
}

/** An error that carries its problem document; thrown anywhere, rendered at the edge. */
export class ProblemError extends Error {
  readonly problem: Problem;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, detail: string, extra: Partial<Problem> = {}, headers: Record<string, string> = {}) {
    super(detail);
    this.name = 'ProblemError';
    this.problem = problem(status, code, detail, extra);
    this.headers = headers;
  }
  get statusCode(): number {
    return this.problem.status;
  }
}

/** Write a problem straight to a raw response (the proxy's hijacked path). */
export function writeProblem(res: ServerResponse, p: Problem, headers: Record<string, string | number> = {}): void {
  if (res.headersSent) {
    // Too late for a status: the client sees a cut stream, which is the honest signal.
    res.destroy();
    return;
  }
  const body = JSON.stringify(p);
  res.writeHead(p.status, {
    ...headers,
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
