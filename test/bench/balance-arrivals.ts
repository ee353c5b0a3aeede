/**
 * The balancing bench's load: an OPEN-loop Poisson arrival process, run as its own process.
 *
 * Closed-loop loaders (autocannon, wrk) send the next request when one finishes, so a worker
 * that falls behind slows the load down and its queue never shows. Here every request has a
 * send time drawn in advance (exponential gaps, a fixed seed so every contender gets the very
 * same sequence) and goes out at that time whatever is still in flight. Latency is taken from
 * the SCHEDULED time, so any lag of this client or of its connection pool counts against the
 * contender rather than vanishing.
 *
 * Every request carries a random `x-session-id` (consistent-hash's key) and a random
 * `x-forwarded-for` (ip-hash's key when the gateway trusts 127.0.0.1): many clients, as behind a
 * real edge. Workers name themselves in `x-worker`, which gives the slow worker's share exactly
 * over the measured window.
 *
 * argv: JSON `ArrivalOptions`; prints one line of JSON `ArrivalResult`.
 */
import { Pool, request } from 'undici';
import { percentile } from './percentiles.js';

export interface ArrivalAction {
  /** Seconds after the start of the measured window. */
  atSeconds: number;
  method: 'POST' | 'GET';
  url: string;
  label: string;
}

export interface ArrivalOptions {
  url: string;
  /** Mean arrivals per second. */
  rate: number;
  warmupSeconds: number;
  seconds: number;
  connections: number;
  body: string;
  seed: number;
  /** Give up on a request after this long (counted as an error). */
  requestTimeoutMs: number;
  /** How long to wait for the measured requests still in flight once sending stops. */
  drainTimeoutMs: number;
  actions: ArrivalAction[];
}

export interface SecondBucket {
  /** Seconds after the start of the measured window, by scheduled send time. */
  second: number;
  sent: number;
  failed: number;
  p99Ms: number;
}

export interface ArrivalResult {
  /** Requests scheduled in the measured window. */
  scheduled: number;
  /** 2xx answers. */
  ok: number;
  /** Answers with another status, by status. */
  statuses: Record<string, number>;
  non2xx: number;
  /** No answer: connection errors, resets, timeouts, by error code. */
  errorCodes: Record<string, number>;
  errors: number;
  /** Still unanswered when the drain timeout ran out (also counted in errors). */
  abandoned: number;
  /** Measured requests answered, by the answering worker's `x-worker` header. */
  byWorker: Record<string, number>;
  /** Latency from the scheduled send time, over every answered request (any status). */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** 2xx answers per second, from the window's start to its last answer. */
  goodputPerSecond: number;
  offeredPerSecond: number;
  /** Largest gap between a request's scheduled time and when this client handed it over. */
  maxSendLagMs: number;
  /** Scheduled send time of the first and last failed request, seconds into the window. */
  firstFailureAtSeconds?: number;
  lastFailureAtSeconds?: number;
  timeline: SecondBucket[];
  actions: Array<{ label: string; atSeconds: number; status: number | string }>;
}

/** mulberry32: small, fast, good enough for arrival gaps; seeded so runs are comparable. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as ArrivalOptions;
  const target = new URL(options.url);
  const path = `${target.pathname}${target.search}`;
  const pool = new Pool(target.origin, {
    connections: options.connections,
    pipelining: 1,
    keepAliveTimeout: 120_000,
    keepAliveMaxTimeout: 120_000,
    headersTimeout: options.requestTimeoutMs,
    bodyTimeout: options.requestTimeoutMs,
  });
  const random = seededRandom(options.seed);
  const keys = seededRandom(options.seed ^ 0x5bd1e995);

  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const errorCodes: Record<string, number> = {};
  const byWorker: Record<string, number> = {};
  const buckets = new Map<number, { sent: number; failed: number; latencies: number[] }>();
  let scheduled = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let inFlight = 0;
  let lastEnd = 0;
  let maxSendLagMs = 0;
  let firstFailureAt = Infinity;
  let lastFailureAt = -Infinity;
  let onIdle: (() => void) | undefined;

  const start = performance.now() + 20;
  const windowStart = start + options.warmupSeconds * 1000;
  const windowEnd = windowStart + options.seconds * 1000;

  const bucketOf = (at: number): { sent: number; failed: number; latencies: number[] } => {
    const second = Math.floor((at - windowStart) / 1000);
    let bucket = buckets.get(second);
    if (bucket === undefined) {
      bucket = { sent: 0, failed: 0, latencies: [] };
      buckets.set(second, bucket);
    }
    return bucket;
  };

  const fire = (at: number, measured: boolean): void => {
    const session = Math.floor(keys() * 1e9).toString(36);
    const address = `10.${Math.floor(keys() * 256)}.${Math.floor(keys() * 256)}.${1 + Math.floor(keys() * 254)}`;
    const bucket = measured ? bucketOf(at) : undefined;
    if (measured) {
      scheduled += 1;
      bucket!.sent += 1;
      inFlight += 1;
    }
    const failed = (): void => {
      bucket!.failed += 1;
      firstFailureAt = Math.min(firstFailureAt, at);
      lastFailureAt = Math.max(lastFailureAt, at);
    };
    const done = (): void => {
      if (!measured) return;
      lastEnd = performance.now();
      inFlight -= 1;
      if (inFlight === 0) onIdle?.();
    };
    pool.request({
      path,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-session-id': session, 'x-forwarded-for': address },
      body: options.body,
    }).then(
      async (response) => {
        await response.body.dump();
        if (!measured) return;
        const latency = performance.now() - at;
        latencies.push(latency);
        bucket!.latencies.push(latency);
        const worker = response.headers['x-worker'];
        if (typeof worker === 'string') byWorker[worker] = (byWorker[worker] ?? 0) + 1;
        if (response.statusCode >= 200 && response.statusCode < 300) ok += 1;
        else {
          non2xx += 1;
          failed();
          statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
        }
        done();
      },
      (error: unknown) => {
        if (measured) {
          errors += 1;
          failed();
          const code = (error as { code?: string }).code ?? (error as Error).name;
          errorCodes[code] = (errorCodes[code] ?? 0) + 1;
        }
        done();
      },
    );
  };

  const actionResults: ArrivalResult['actions'] = [];
  for (const action of options.actions) {
    const delay = windowStart + action.atSeconds * 1000 - performance.now();
    setTimeout(() => {
      request(action.url, { method: action.method }).then(
        async (response) => {
          await response.body.dump();
          actionResults.push({ label: action.label, atSeconds: action.atSeconds, status: response.statusCode });
        },
        (error: unknown) => actionResults.push({ label: action.label, atSeconds: action.atSeconds, status: String((error as Error).message) }),
      );
    }, Math.max(0, delay));
  }

  await new Promise<void>((resolve) => {
    let next = start;
    const tick = (): void => {
      const now = performance.now();
      while (next <= now && next < windowEnd) {
        maxSendLagMs = Math.max(maxSendLagMs, now - next);
        fire(next, next >= windowStart);
        next += (-Math.log(1 - random()) / options.rate) * 1000;
      }
      if (next >= windowEnd) resolve();
      else setTimeout(tick, Math.max(0, next - performance.now()));
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });

  let abandoned = 0;
  if (inFlight > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, options.drainTimeoutMs);
      onIdle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    abandoned = inFlight;
    errors += abandoned;
    if (abandoned > 0) errorCodes.ABANDONED = abandoned;
  }

  const sorted = Float64Array.from(latencies).sort();
  const measuredSeconds = Math.max(options.seconds, (lastEnd - windowStart) / 1000);
  const timeline: SecondBucket[] = [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([second, bucket]) => ({
      second,
      sent: bucket.sent,
      failed: bucket.failed,
      p99Ms: Math.round(percentile(Float64Array.from(bucket.latencies).sort(), 0.99)),
    }));
  const result: ArrivalResult = {
    scheduled,
    ok,
    statuses,
    non2xx,
    errorCodes,
    errors,
    abandoned,
    byWorker,
    p50Ms: percentile(sorted, 0.5),
    p95Ms: percentile(sorted, 0.95),
    p99Ms: percentile(sorted, 0.99),
    maxMs: percentile(sorted, 1),
    meanMs: sorted.length > 0 ? sorted.reduce((sum, value) => sum + value, 0) / sorted.length : 0,
    goodputPerSecond: ok / measuredSeconds,
    offeredPerSecond: scheduled / options.seconds,
    maxSendLagMs,
    timeline,
    actions: actionResults,
  };
  if (Number.isFinite(firstFailureAt)) {
    result.firstFailureAtSeconds = (firstFailureAt - windowStart) / 1000;
    result.lastFailureAtSeconds = (lastFailureAt - windowStart) / 1000;
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  // Requests abandoned by the drain timeout would hold the pool open; the process is done.
  process.exit(0);
}

await main();
