import type { FastifyBaseLogger } from 'fastify';

/** One line per answered request: what operators grep first (nginx's access_log, Envoy's access logs). */
export interface AccessEntry {
  requestId: string;
  method: string;
  /** Path without the query string: queries can carry tokens, and logs must not. */
  path: string;
  status: number;
  durationMs: number;
  route: string | undefined;
  target: string | undefined;
  consumer: string | undefined;
  clientIp: string;
  attempts: number;
  /** The request's trace id when tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT), to find its spans. */
  traceId?: string | undefined;
}

export interface AccessLog {
  write(entry: AccessEntry): void;
}

/** Access lines as pino JSON at info level, under `msg: "access"`. */
export function pinoAccessLog(logger: FastifyBaseLogger): AccessLog {
  const log = logger.child({ kind: 'access' });
  return {
    write(entry) {
      log.info({ ...entry, durationMs: Math.round(entry.durationMs * 100) / 100 }, 'access');
    },
  };
}

export function pathOf(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
