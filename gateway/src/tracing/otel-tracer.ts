import type { IncomingMessage, ServerResponse } from 'node:http';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span, type TextMapGetter, type TextMapSetter, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import { attachTrace, type AttemptInfo, type AttemptSpan, type RequestTrace, type RequestTracer } from '../contracts/request-tracer.js';
import { pathOf } from '../contracts/access-log.js';
import type { TracingSettings } from './tracing-settings.js';

/** Span attributes in the product's words, beside OpenTelemetry's HTTP semantic conventions. */
export const ATTR_ROUTE = 'switchboard.route';
export const ATTR_CONSUMER = 'switchboard.consumer';
export const ATTR_TARGET = 'switchboard.target';
export const ATTR_UPSTREAM = 'switchboard.upstream';
export const ATTR_FALLBACK = 'switchboard.fallback';

function samplerFor(settings: TracingSettings): Sampler {
  switch (settings.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(settings.ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.ratio) });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/**
 * Targets come from the configuration, so this holds about the target list, each parsed once;
 * emptied past a bound so targets that come and go (pods) over months cannot grow it forever.
 */
const targetUrls = new Map<string, URL>();
const MAX_TARGET_URLS = 10_000;
function targetUrl(target: string): URL {
  let url = targetUrls.get(target);
  if (url === undefined) {
    if (targetUrls.size >= MAX_TARGET_URLS) targetUrls.clear();
    targetUrls.set(target, (url = new URL(target)));
  }
  return url;
}

const headerGetter: TextMapGetter<IncomingMessage['headers']> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

const headerSetter: TextMapSetter<Record<string, string | string[]>> = {
  set: (carrier, key, value) => void (carrier[key] = value),
};

/**
 * The gateway's tracer: the OpenTelemetry SDK with a batching OTLP/HTTP exporter, driven with
 * explicit contexts (no context manager): the request path is callbacks on one object per
 * request, so the parent is always at hand and AsyncLocalStorage would only add cost.
 */
export class OtelRequestTracer implements RequestTracer {
  private readonly provider: TracerProvider;
  private readonly tracer: Tracer;
  private readonly propagator = new W3CTraceContextPropagator();

  constructor(settings: TracingSettings, exporter: SpanExporter = new OTLPTraceExporter({ url: settings.url })) {
    this.provider = new TracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName }),
      sampler: samplerFor(settings),
      // The SDK's defaults (5 s delay, 2 048 queued, 512 a batch): a collector that is down costs
      // dropped spans, never memory without bound or a blocked request.
      spanProcessors: [new BatchSpanProcessor({ exporter })],
    });
    this.tracer = this.provider.getTracer('switchboard');
  }

  begin(req: IncomingMessage, res: ServerResponse): void {
    const parent = this.propagator.extract(ROOT_CONTEXT, req.headers, headerGetter);
    const method = req.method ?? 'GET';
    const span = this.tracer.startSpan(method, { kind: SpanKind.SERVER }, parent);
    const served = new ServedRequest(this.tracer, this.propagator, method, span, trace.setSpan(ROOT_CONTEXT, span));
    if (span.isRecording()) {
      span.setAttribute(ATTR_HTTP_REQUEST_METHOD, method);
      span.setAttribute(ATTR_URL_PATH, pathOf(req.url));
    }
    attachTrace(req, served);
    res.once('close', () => served.end(res));
  }

  /** Export every span ended so far, now (tests; the batch otherwise leaves every 5 s). */
  flush(): Promise<void> {
    return this.provider.forceFlush();
  }

  async close(): Promise<void> {
    await this.provider.shutdown();
  }
}

class ServedRequest implements RequestTrace {
  readonly traceId: string;
  /** Attempts sent so far, across retries and fallbacks: the next one's resend count. */
  private sent = 0;

  constructor(
    private readonly tracer: Tracer,
    private readonly propagator: W3CTraceContextPropagator,
    private readonly method: string,
    private readonly span: Span,
    private readonly context: Context,
  ) {
    this.traceId = span.spanContext().traceId;
  }

  matched(route: string, consumer: string | undefined): void {
    if (!this.span.isRecording()) return;
    this.span.updateName(`${this.method} ${route}`);
    this.span.setAttribute(ATTR_ROUTE, route);
    if (consumer !== undefined) this.span.setAttribute(ATTR_CONSUMER, consumer);
  }

  attempt(headers: Record<string, string | string[]>, info: AttemptInfo): AttemptSpan {
    const span = this.tracer.startSpan(this.method, { kind: SpanKind.CLIENT }, this.context);
    const resend = this.sent++;
    if (span.isRecording()) {
      const url = targetUrl(info.target);
      span.setAttribute(ATTR_HTTP_REQUEST_METHOD, this.method);
      span.setAttribute(ATTR_TARGET, info.target);
      span.setAttribute(ATTR_URL_FULL, info.target);
      span.setAttribute(ATTR_SERVER_ADDRESS, url.hostname);
      span.setAttribute(ATTR_SERVER_PORT, Number(url.port || (url.protocol === 'https:' ? 443 : 80)));
      span.setAttribute(ATTR_UPSTREAM, info.upstream);
      // Semantic conventions: resend_count only on the second and later sends of a request.
      if (resend > 0) span.setAttribute(ATTR_HTTP_REQUEST_RESEND_COUNT, resend);
      if (info.fallback) span.setAttribute(ATTR_FALLBACK, true);
    }
    // W3C Trace Context §3.3: a tracestate without a valid traceparent must not travel on; the
    // propagator writes the span's own (the client's, carried in the span context) back.
    delete headers.tracestate;
    this.propagator.inject(trace.setSpan(ROOT_CONTEXT, span), headers, headerSetter);
    return {
      end(status, error) {
        if (span.isRecording()) {
          if (status !== undefined) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
          if (error !== undefined) span.setAttribute(ATTR_ERROR_TYPE, error);
          // Client spans: any status ≥ 400 is an error (semantic conventions, HTTP spans).
          if (error !== undefined || (status !== undefined && status >= 400)) span.setStatus({ code: SpanStatusCode.ERROR });
        }
        span.end();
      },
    };
  }

  /** The client's connection closed: with the status it was sent, or 0 if it was cut. */
  end(res: ServerResponse): void {
    const span = this.span;
    if (span.isRecording()) {
      // writableEnded, not writableFinished: HTTP/2's compatibility response has only the former.
      // A joined WebSocket's response never ends: its socket left it at the 101 (proxy/upgrade.ts).
      const status = res.writableEnded || res.statusCode === 101 ? res.statusCode : 0;
      if (status !== 0) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      else span.setAttribute(ATTR_ERROR_TYPE, 'client-cut');
      // Server spans: only 5xx is the server's error (semantic conventions, HTTP spans).
      if (status === 0 || status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}
