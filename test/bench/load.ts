import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runToCompletion } from './child-processes.js';
import type { FixedRateResult } from './fixed-rate-client.js';
import { benchScript, nodeBinary, repoRoot } from './paths.js';
import { findTool, missingToolLine } from './tools.js';

/**
 * Load generators, always in a process of their own: their CPU must not be counted against the
 * proxy, and a runaway one is killed by its timeout.
 */

export interface LoadResult {
  /** Responses completed in the measured window (non-2xx included). */
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  /** Connect, read, write errors and timeouts. */
  errors: number;
}

/** Closed-loop load: `connections` connections, each sending its next request on a response. */
export interface ThroughputLoader {
  name: 'wrk' | 'autocannon';
  description: string;
  /** `headers` go with every request (an API key for a route that wants one). */
  run(url: string, connections: number, seconds: number, headers?: Record<string, string>): Promise<LoadResult>;
}

/** Room for start-up and shutdown on top of the requested duration before a loader is killed. */
const LOADER_GRACE_MS = 20_000;

function failure(tool: string, code: number | null, timedOut: boolean, output: string): Error {
  return new Error(`${tool} ${timedOut ? 'timed out' : `exited ${code}`}:\n${output}`);
}

/**
 * wrk prints human text; this script makes it also print one line of machine-readable JSON.
 * Latencies from wrk are in microseconds. `errors.status` counts responses with status > 399.
 */
const WRK_REPORT_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50Us":%d,"p99Us":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
`;

interface WrkJson {
  requests: number;
  durationUs: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50Us: number;
  p99Us: number;
}

function wrkLoader(binary: string, workDir: string): ThroughputLoader {
  const script = join(workDir, 'wrk-report.lua');
  writeFileSync(script, WRK_REPORT_SCRIPT);
  return {
    name: 'wrk',
    // One thread: on a two-core machine a second wrk thread only takes CPU from the proxy.
    description: 'wrk, 1 thread (closed loop)',
    async run(url, connections, seconds, headers = {}) {
      // wrk takes whole seconds only.
      const wholeSeconds = Math.max(1, Math.round(seconds));
      const headerArgs = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
      const done = await runToCompletion('wrk', binary, [
        '-t1', `-c${connections}`, `-d${wholeSeconds}s`, '--timeout', '5s', ...headerArgs, '-s', script, url,
      ], wholeSeconds * 1000 + LOADER_GRACE_MS);
      const line = done.stdout.split('\n').find((text) => text.startsWith('WRK_JSON '));
      if (done.code !== 0 || line === undefined) throw failure('wrk', done.code, done.timedOut, done.output);
      const figures = JSON.parse(line.slice('WRK_JSON '.length)) as WrkJson;
      const measuredSeconds = figures.durationUs / 1e6;
      return {
        requests: figures.requests,
        seconds: measuredSeconds,
        requestsPerSecond: figures.requests / measuredSeconds,
        p50Ms: figures.p50Us / 1000,
        p99Ms: figures.p99Us / 1000,
        non2xx: figures.status,
        errors: figures.connect + figures.read + figures.write + figures.timeout,
      };
    },
  };
}

interface AutocannonJson {
  duration: number;
  requests: { total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  '2xx': number;
}

function autocannonLoader(): ThroughputLoader {
  // Run with the project's node, not through the bin's `#!/usr/bin/env node`.
  const entry = join(repoRoot, 'node_modules/autocannon/autocannon.js');
  return {
    name: 'autocannon',
    description: 'autocannon (closed loop; latencies at 1 ms resolution)',
    async run(url, connections, seconds, headers = {}) {
      const headerArgs = Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}=${value}`]);
      const done = await runToCompletion('autocannon', nodeBinary, [
        entry, '--json', '-c', String(connections), '-d', String(seconds), '-t', '5', ...headerArgs, url,
      ], seconds * 1000 + LOADER_GRACE_MS);
      const start = done.stdout.indexOf('{');
      if (done.code !== 0 || start < 0) throw failure('autocannon', done.code, done.timedOut, done.output);
      const figures = JSON.parse(done.stdout.slice(start)) as AutocannonJson;
      const completed = figures['2xx'] + figures.non2xx;
      return {
        requests: completed,
        seconds: figures.duration,
        requestsPerSecond: completed / figures.duration,
        p50Ms: figures.latency.p50,
        p99Ms: figures.latency.p99,
        non2xx: figures.non2xx,
        errors: figures.errors + figures.timeouts,
      };
    },
  };
}

/** wrk when installed (it needs far less CPU per request than autocannon), else autocannon. */
export function chooseThroughputLoader(
  preference: 'wrk' | 'autocannon' | undefined,
  workDir: string,
): { loader: ThroughputLoader; notes: string[] } {
  if (preference === 'autocannon') return { loader: autocannonLoader(), notes: ['autocannon chosen by BENCH_LOADER'] };
  const wrk = findTool('wrk');
  if (wrk !== undefined) return { loader: wrkLoader(wrk, workDir), notes: [] };
  return {
    loader: autocannonLoader(),
    notes: [missingToolLine('wrk', 'using autocannon, which takes more CPU from the shared cores')],
  };
}

export const fixedRateLoaderDescription = 'fixed-rate open-loop client (undici, own process, µs timing)';

export interface FixedRateRun extends LoadResult {
  /** Every measured latency in ms, ascending, for pooling rounds. */
  latenciesMs: number[];
}

/** Open-loop load at `rate` req/s; warm-up and measured window on the same connections. */
export async function runFixedRate(
  url: string,
  rate: number,
  connections: number,
  warmupSeconds: number,
  seconds: number,
  headers?: Record<string, string>,
): Promise<FixedRateRun> {
  const done = await runToCompletion('fixed-rate client', nodeBinary, [
    benchScript('fixed-rate-client.js'),
    JSON.stringify({ url, rate, connections, warmupSeconds, seconds, includeLatencies: true, headers }),
  ], (warmupSeconds + seconds) * 1000 + LOADER_GRACE_MS);
  const line = done.stdout.split('\n').find((text) => text.startsWith('{'));
  if (done.code !== 0 || line === undefined) throw failure('fixed-rate client', done.code, done.timedOut, done.output);
  const figures = JSON.parse(line) as FixedRateResult;
  return {
    requests: figures.requests,
    seconds: figures.seconds,
    requestsPerSecond: figures.requestsPerSecond,
    p50Ms: figures.p50Ms,
    p99Ms: figures.p99Ms,
    non2xx: figures.non2xx,
    errors: figures.errors,
    latenciesMs: (figures.latenciesUs ?? []).map((us) => us / 1000),
  };
}
