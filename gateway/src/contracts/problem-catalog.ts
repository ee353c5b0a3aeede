/**
 * Every problem type the gateway can answer with, public listener and admin API alike: one code,
 * one status, one title (RFC 9457 §3.1.3: the title describes the type, not the occurrence).
 * `problem()` and `ProblemError` take a `ProblemCode`, so a code outside this list does not
 * compile, and test/architecture/problem-catalog.test.ts collects every call site against it.
 *
 * Add a code here before using it; reuse an existing one when the client would handle both the
 * same way (two names for one situation is the drift this file exists to stop).
 */
export const PROBLEMS = {
  // ---- the request itself (public listener and admin API) ----
  'bad-request': { status: 400, title: 'Bad request' },
  'validation': { status: 400, title: 'Invalid request fields' },
  'malformed-json': { status: 400, title: 'Malformed JSON body' },
  'invalid-body': { status: 400, title: 'Invalid request body' },
  'bad-request-target': { status: 400, title: 'Invalid request target' },
  'bad-host': { status: 400, title: 'Invalid Host header' },
  'bad-http-version': { status: 400, title: 'Unsupported HTTP version' },
  'unauthorized': { status: 401, title: 'Authentication required' },
  'forbidden': { status: 403, title: 'Not allowed' },
  'ip-denied': { status: 403, title: 'Client address not allowed' },
  'not-found': { status: 404, title: 'Not found' },
  'no-route': { status: 404, title: 'No route matches' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'not-acceptable': { status: 406, title: 'Not acceptable' },
  'body-too-large': { status: 413, title: 'Request body too large' },
  'uri-too-long': { status: 414, title: 'Request target too long' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'rate-limited': { status: 429, title: 'Rate limit exceeded' },
  'quota-exceeded': { status: 429, title: 'Quota exceeded' },
  'headers-too-large': { status: 431, title: 'Request headers too large' },
  // ---- the proxy ----
  'upstream-error': { status: 502, title: 'Upstream broke the exchange' },
  'upstream-unreachable': { status: 502, title: 'Upstream unreachable' },
  'no-healthy-target': { status: 503, title: 'No healthy target' },
  'all-saturated': { status: 503, title: 'Every target at its connection limit' },
  'queue-full': { status: 503, title: 'Upstream queue full' },
  'queue-timeout': { status: 503, title: 'Waited too long in the upstream queue' },
  'configuration-unavailable': { status: 503, title: 'No configuration in force' },
  'upstream-timeout': { status: 504, title: 'Upstream timed out' },
  // ---- the admin API ----
  'not-in-force': { status: 404, title: 'Not in force on this node' },
  'duplicate-name': { status: 409, title: 'Name already taken' },
  'in-use': { status: 409, title: 'Still referenced' },
  'key-revoked': { status: 409, title: 'Key already revoked' },
  'last-admin': { status: 409, title: 'Last administrator' },
  'concurrent-change': { status: 409, title: 'Concurrent change' },
  'precondition-failed': { status: 412, title: 'Version does not match' },
  'precondition-required': { status: 428, title: 'If-Match required' },
  'login-throttled': { status: 429, title: 'Too many sign-in attempts' },
  'store-unavailable': { status: 503, title: 'Configuration store unavailable' },
  'commit-outcome-unknown': { status: 503, title: 'Change not confirmed by the store' },
  'item-too-large': { status: 413, title: 'Item too large for the store' },
  // ---- anything else ----
  'internal': { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemCode = keyof typeof PROBLEMS;
export type ProblemStatus<C extends ProblemCode> = (typeof PROBLEMS)[C]['status'];

export function isProblemCode(code: string): code is ProblemCode {
  return Object.hasOwn(PROBLEMS, code);
}

/** The catalog's code for a client error Fastify (or a library) raised with only a status. */
export function codeForStatus(status: number): ProblemCode {
  switch (status) {
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not-found';
    case 405:
      return 'method-not-allowed';
    case 406:
      return 'not-acceptable';
    case 413:
      return 'body-too-large';
    case 414:
      return 'uri-too-long';
    case 415:
      return 'unsupported-media-type';
    case 429:
      return 'rate-limited';
    case 431:
      return 'headers-too-large';
  }
  return status >= 500 ? 'internal' : 'bad-request';
}
