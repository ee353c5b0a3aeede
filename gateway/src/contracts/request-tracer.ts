import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Distributed tracing as the request path sees it (OpenTelemetry in gateway/src/tracing/).
 * Off by default: the node holds no tracer, nothing is attached to a request, and the proxy's
 * only cost is reading one absent property. W3C `traceparent`/`tracestate` headers then pass
 * through untouched like any other header.
 */
export interface RequestTracer {
  /** Start the SERVER span of one request as it arrives; it ends when `res` closes. */
  begin(req: IncomingMessage, res: ServerResponse): void;
  /** Flush what is buffered and stop exporting (node shutdown). */
  close(): Promise<void>;
}

/** One request's trace, found on the request by `traceOf`. */
export interface RequestTrace {
  /** 32 hex digits, as in `traceparent` (the access log's `traceId`). */
  readonly traceId: string;
  /** The route (and consumer) the request matched: the span's name and attributes. */
  matched(route: string, consumer: string | undefined): void;
  /**
   * A CLIENT span for one upstream attempt: sets `traceparent` (and `tracestate`) in `headers`
   * to the attempt's own span, so the upstream's spans hang below it.
   */
  attempt(headers: Record<string, string | string[]>, info: AttemptInfo): AttemptSpan;
}

export interface AttemptInfo {
  /** The target's URL. */
  target: string;
  /** The upstream (pool) the target belongs to. */
  upstream: string;
  /** The route fell back to this upstream (route `fallbacks`). */
  fallback: boolean;
}

export interface AttemptSpan {
  /** The upstream's status (undefined when none arrived) and why it failed, if it did. */
  end(status: number | undefined, error: string | undefined): void;
}

const TRACE = Symbol.for('switchboard.trace');

export function attachTrace(req: IncomingMessage, trace: RequestTrace): void {
  (req as IncomingMessage & { [TRACE]?: RequestTrace })[TRACE] = trace;
}

/** The request's trace, or undefined when tracing is off. */
export function traceOf(req: IncomingMessage): RequestTrace | undefined {
  return (req as IncomingMessage & { [TRACE]?: RequestTrace })[TRACE];
}
