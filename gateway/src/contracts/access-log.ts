import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';

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
  /** Writes out what is buffered, synchronously (the node calls it when it stops). */
  flush?(): void;
}

/**
 * Linux's PIPE_BUF: a write of at most this many bytes to a pipe is never interleaved with
 * another process's (WORKERS share stdout), so a buffered chunk of whole lines stays whole.
 */
const ATOMIC_WRITE_BYTES = 4096;
const FLUSH_INTERVAL_MS = 1000;

/**
 * Access lines to a file descriptor (stdout for `npm start`) in buffered writes, as nginx's
 * `access_log … buffer=` and Envoy's file access log (flushed every second) do: one write per
 * line was ≈ 10 µs of a request's CPU here (a `--cpu-prof` of the full pipeline put the line's
 * `write` at ≈ 8 % of the node's busy time). Chunks hold whole lines and stay within
 * PIPE_BUF; a chunk is written once it holds 3 KiB, or within a second, or when the node stops
 * (`flush`, and on process exit). A process killed outright loses at most that second's lines.
 */
export function bufferedAccessLog(logger: FastifyBaseLogger, fd: number): AccessLog {
  const destination = pino.destination({ dest: fd, sync: true, minLength: ATOMIC_WRITE_BYTES - 1024, maxWrite: ATOMIC_WRITE_BYTES, periodicFlush: FLUSH_INTERVAL_MS });
  const flush = () => {
    try {
      destination.flushSync();
    } catch {
      // stdout is gone (a closed pipe): nothing more can be written anyway.
    }
  };
  process.once('exit', flush);
  // Access lines are info lines: a node at LOG_LEVEL=warn writes none, as pino would not.
  if ((pino.levels.values[logger.level] ?? Infinity) > pino.levels.values.info!) return { write: () => {}, flush };
  const pid = process.pid;
  return { write: (entry) => destination.write(accessLine(entry, pid, Date.now())), flush };
}

/**
 * One access line, as pino writes `pinoAccessLog`'s (below): level, time, pid, `kind`, the
 * entry's fields, `msg`; undefined fields left out. Written by hand, not by pino: the line's
 * shape is fixed by AccessEntry, and pino's generic serialization (the object spread, a walk of
 * its keys, its child bindings) was ≈ 8-10 µs of every logged request here, a fifth of a bare
 * proxy's whole cost (`node dist/test/bench/pipeline-cost.js`, the access-log rows);
 * test/dataplane/access-line.test.ts holds it to pino's output for every field.
 */
export function accessLine(e: AccessEntry, pid: number, time: number): string {
  let line = `{"level":30,"time":${time},"pid":${pid},"kind":"access","requestId":${JSON.stringify(e.requestId)},"method":${JSON.stringify(e.method)},"path":${JSON.stringify(e.path)},"status":${e.status},"durationMs":${roundedMs(e.durationMs)}`;
  if (e.route !== undefined) line += `,"route":${JSON.stringify(e.route)}`;
  if (e.target !== undefined) line += `,"target":${JSON.stringify(e.target)}`;
  if (e.consumer !== undefined) line += `,"consumer":${JSON.stringify(e.consumer)}`;
  line += `,"clientIp":${JSON.stringify(e.clientIp)},"attempts":${e.attempts}`;
  if (e.traceId !== undefined) line += `,"traceId":${JSON.stringify(e.traceId)}`;
  return line + ',"msg":"access"}\n';
}

/** Milliseconds to two decimals; JSON has no NaN or Infinity, which pino writes as null. */
function roundedMs(ms: number): string {
  const rounded = Math.round(ms * 100) / 100;
  return Number.isFinite(rounded) ? String(rounded) : 'null';
}

/**
 * Access lines as pino JSON at info level, under `msg: "access"`.
 *
 * The line skips the logger's redaction (`redact: []`): an AccessEntry's fields are fixed by the
 * type above and none can hold a secret — the path is cut before the query, a target is its
 * origin (credentials dropped, target-state.ts), the consumer is a name — so the censor paths
 * match nothing here, yet their wildcards cost ≈ 19 µs of every line (27 → 8 µs per line, and
 * ≈ 100 → ≈ 40 µs per logged request in `node dist/test/bench/pipeline-cost.js`).
 */
export function pinoAccessLog(logger: FastifyBaseLogger): AccessLog {
  const log = logger.child({ kind: 'access' }, { redact: [] });
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
