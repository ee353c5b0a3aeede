import type { FastifyError } from 'fastify';
import { codeForStatus, problem, ProblemError, type Problem } from '../errors.js';

// One sendProblem for every listener (errors.ts); re-exported for the generation's handlers.
export { sendProblem } from '../errors.js';

/**
 * Map what a request's handling threw — a stage's ProblemError, Fastify's own errors (validation,
 * body parsing, limits), anything else — to the problem document answering request `requestId`.
 */
export function toProblem(err: Partial<FastifyError> & Error, requestId: string): { p: Problem; headers: Record<string, string> } {
  if (err instanceof ProblemError) return { p: { ...err.problem, instance: requestId }, headers: err.headers };
  if (err.validation) {
    const where = err.validationContext ?? 'body';
    const errors = err.validation.map((v) => {
      let path = `/${where}${v.instancePath}`;
      if (v.keyword === 'required') path += `/${(v.params as { missingProperty: string }).missingProperty}`;
      if (v.keyword === 'additionalProperties') path += `/${(v.params as { additionalProperty: string }).additionalProperty}`;
      return { path, message: v.message ?? 'is invalid' };
    });
    return { p: problem('validation', `the request ${where} does not match the route's schema`, { errors, instance: requestId }), headers: {} };
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { p: problem('body-too-large', err.message, { instance: requestId }), headers: {} };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { p: problem('unsupported-media-type', err.message, { instance: requestId }), headers: {} };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return { p: problem('invalid-body', err.message, { instance: requestId }), headers: {} };
  }
  if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY')
    return { p: problem('malformed-json', `the request body is not valid JSON: ${err.message}`, { instance: requestId }), headers: {} };
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
  const detail = status >= 500 ? 'the gateway failed to handle the request' : err.message;
  return { p: problem(codeForStatus(status), detail, { instance: requestId }), headers: {} };
}

