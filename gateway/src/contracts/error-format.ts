/**
 * How a route's gateway-made errors are written: RFC 9457 problem+json (the default), or the
 * `{"error": {message, type, param, code}}` body OpenAI's clients parse — the official SDKs read
 * `error.message` from it and raise their typed errors (AuthenticationError, RateLimitError…)
 * by status, so a problem+json body reached them as "401 status code (no body)".
 *
 * One renderer per format, chosen once per route per generation; status and headers are the
 * caller's, unchanged, so only the body and its type differ. A new format (gRPC statuses for
 * `application/grpc` requests) is one more case here.
 */
export type ErrorFormat = 'problem' | 'openai';

export interface RenderedError {
  readonly contentType: string;
  readonly body: string;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** What a renderer reads of a problem document (errors.ts's Problem; structural, so no import cycle). */
export interface RenderableProblem {
  readonly type: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: ReadonlyArray<{ readonly path: string }> | undefined;
  readonly [extension: string]: unknown;
}

/** OpenAI's `type` for a status, as its API documents them (error codes guide). */
function openAiType(p: RenderableProblem): string {
  const code = p.type.slice(p.type.lastIndexOf(':') + 1);
  if (code === 'quota-exceeded') return 'insufficient_quota';
  switch (p.status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 429:
      return 'rate_limit_error';
  }
  return p.status >= 500 ? 'server_error' : 'invalid_request_error';
}

/**
 * The catalog code in OpenAI's spelling (snake_case), with the codes OpenAI clients test for
 * by name where one exists: `invalid_api_key`, `rate_limit_exceeded`, `insufficient_quota`,
 * `model_not_found`.
 */
function openAiCode(p: RenderableProblem): string {
  const code = p.type.slice(p.type.lastIndexOf(':') + 1);
  switch (code) {
    case 'unauthorized':
      return 'invalid_api_key';
    case 'rate-limited':
      return 'rate_limit_exceeded';
    case 'quota-exceeded':
      return 'insufficient_quota';
  }
  if (typeof p.code === 'string') return p.code;
  return code.replaceAll('-', '_');
}

/** The request field the error is about: a problem's own `param`, or its first field error's path. */
function openAiParam(p: RenderableProblem): string | null {
  if (typeof p.param === 'string') return p.param;
  const first = p.errors?.[0]?.path;
  if (typeof first !== 'string') return null;
  return first.replace(/^\/(body|querystring|headers)\//, '').replaceAll('/', '.') || null;
}

export function renderError(format: ErrorFormat | undefined, p: RenderableProblem): RenderedError {
  if (format === 'openai')
    return {
      contentType: 'application/json',
      body: JSON.stringify({ error: { message: p.detail, type: openAiType(p), param: openAiParam(p), code: openAiCode(p) } }),
    };
  return { contentType: PROBLEM_CONTENT_TYPE, body: JSON.stringify(p) };
}
