/**
 * An open-loop load generator at a fixed request rate, run as its own process by the bench so
 * its CPU never competes inside the process being measured.
 *
 * Why not autocannon `--overallRate`: autocannon keeps latencies in an HDR histogram whose
 * lowest discernible value is 1 ms, so p99 over a 20 ms upstream reads 20, 21 or 22 — too coarse
 * for "the proxy adds 0.7 ms". This keeps every latency as a float and sorts them.
 *
 * Requests are sent on a clock (not when a previous one finishes), so a slow proxy cannot slow
 * the load down and hide its own latency. Latency is timed from the moment a request is handed
 * to the pool, so the load generator's timer jitter is not in it.
 *
 * argv: JSON `{ "url", "rate", "connections", "warmupSeconds", "seconds", "headers"? }`;
 * prints one line of JSON with the measured window's figures.
 */
import { Pool } from 'undici';
import { percentile } from './percentiles.js';

interface FixedRateOptions {
  url: string;
  rate: number;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  /** Also print every latency, so the bench can pool several rounds into one distribution. */
  includeLatencies?: boolean;
  /** Sent with every request (an API key for a route that wants one). */
  headers?: Record<string, string>;
}

export interface FixedRateResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  /** Every measured latency in µs, ascending, when asked for. */
  latenciesUs?: number[];
}

const DRAIN_TIMEOUT_MS = 10_000;

const options = JSON.parse(process.argv[2] ?? '{}') as FixedRateOptions;
const target = new URL(options.url);
const path = `${target.pathname}${target.search}`;
const pool = new Pool(target.origin, {
  connections: options.connections,
  pipelining: 1,
  keepAliveTimeout: 120_000,
  keepAliveMaxTimeout: 120_000,
});

let measuring = false;
const latenciesMs: number[] = [];
let non2xx = 0;
let errors = 0;
let inFlight = 0;
let lastMeasuredEnd = 0;
let onIdle: (() => void) | undefined;

function settle(): void {
  inFlight -= 1;
  if (inFlight === 0) onIdle?.();
}

function send(): void {
  const counted = measuring;
  const started = performance.now();
  inFlight += 1;
  pool.request({ path, method: 'GET', headers: options.headers }).then(
    async (response) => {
      await response.body.dump();
      if (counted) {
        lastMeasuredEnd = performance.now();
        latenciesMs.push(lastMeasuredEnd - started);
        if (response.statusCode < 200 || response.statusCode >= 300) non2xx += 1;
      }
      settle();
    },
    () => {
      if (counted) errors += 1;
      settle();
    },
  );
}

/** Sends `rate × seconds` requests, each at its slot on the clock (ticks of ~1 ms catch up). */
function sendAtRate(seconds: number): Promise<number> {
  const intervalMs = 1000 / options.rate;
  const total = Math.round(options.rate * seconds);
  const start = performance.now();
  let sent = 0;
  return new Promise((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - start) / intervalMs) + 1);
      while (sent < due) {
        send();
        sent += 1;
      }
      if (sent >= total) resolve(start);
      else setTimeout(tick, 1);
    };
    tick();
  });
}

function drained(): Promise<void> {
  if (inFlight === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, DRAIN_TIMEOUT_MS);
    onIdle = () => {
      clearTimeout(timer);
      resolve();
    };
  });
}

async function main(): Promise<void> {
  if (options.warmupSeconds > 0) await sendAtRate(options.warmupSeconds);
  measuring = true;
  const start = await sendAtRate(options.seconds);
  measuring = false;
  await drained();
  const sorted = Float64Array.from(latenciesMs).sort();
  const seconds = Math.max(options.seconds, (lastMeasuredEnd - start) / 1000);
  const result: FixedRateResult = {
    requests: sorted.length,
    seconds,
    requestsPerSecond: sorted.length / seconds,
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
    maxMs: percentile(sorted, 1),
    non2xx,
    errors,
  };
  if (options.includeLatencies) result.latenciesUs = Array.from(sorted, (ms) => Math.round(ms * 1000));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  await pool.destroy();
}

await main();
