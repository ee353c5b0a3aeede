import type { FastifyError, FastifyInstance } from 'fastify';
import { toFieldErrors, ValidationError } from '../../../spec/validate.js';
import { codeForStatus, problem, ProblemError, sendProblem } from '../errors.js';
import { RevisionConflictError, StoreUnavailableError } from '../store/port.js';
import { CommitOutcomeUnknownError, StoreDuplicateError, StoreItemTooLargeError } from '../store/store-errors.js';

/**
 * Every admin error leaves as RFC 9457 problem+json, made here and only here: our own
 * ProblemErrors, schema failures (with every bad field in `errors`), a store that is away (503,
 * so clients retry; the gateway keeps serving meanwhile), and Fastify's own 4xx.
 */
export function installProblemHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ProblemError) return sendProblem(reply, error.problem, error.headers);
    if (error.validation) {
      const base = error.validationContext && error.validationContext !== 'body' ? `/${error.validationContext}` : '';
      const errors = toFieldErrors(error.validation as never, base);
      return sendProblem(reply, problem(400, 'validation', describe(errors.length), { errors }));
    }
    if (error instanceof ValidationError) return sendProblem(reply, problem(400, 'validation', describe(error.errors.length), { errors: error.errors }));
    if (error instanceof StoreUnavailableError) {
      // One line with the cause said once: pino's err serializer would repeat it in the message
      // (with its cause appended), the stack and the cause's stack, and an outage is no bug to trace.
      request.log.warn({ store: error.message }, 'configuration store unavailable; answered 503');
      return sendProblem(reply, problem(503, 'store-unavailable', 'the configuration store is unreachable; nothing was changed, try again shortly'), { 'retry-after': '5' });
    }
    if (error instanceof CommitOutcomeUnknownError) {
      // Not "nothing was changed": the commit was sent and may be in force (store/mongo-store.ts resolveOutcome).
      request.log.warn({ store: error.message }, 'configuration commit not confirmed by the store; answered 503');
      return sendProblem(
        reply,
        problem(503, 'commit-outcome-unknown', 'the store lost contact while confirming this change; it may have been applied: read the configuration before trying again'),
        { 'retry-after': '5' },
      );
    }
    if (error instanceof StoreItemTooLargeError) return sendProblem(reply, problem(413, 'item-too-large', error.message));
    if (error instanceof StoreDuplicateError) return sendProblem(reply, problem(409, 'duplicate-name', error.message));
    if (error instanceof RevisionConflictError)
      return sendProblem(reply, problem(409, 'concurrent-change', 'the configuration kept changing under this request; try again'));
    const status = error.statusCode ?? 500;
    // Fastify's own client errors (bad JSON, wrong media type…) by status, into the catalog.
    if (status >= 400 && status < 500) return sendProblem(reply, problem(codeForStatus(status), error.message));
    request.log.error({ err: error }, 'admin request failed');
    return sendProblem(reply, problem(500, 'internal', 'the request failed on the server; the error is logged'));
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, problem(404, 'not-found', `no admin endpoint ${request.method} ${request.url.split('?')[0]}`)),
  );
}

function describe(count: number): string {
  return count === 1 ? 'one field is invalid; see errors' : `${count} fields are invalid; see errors`;
}
