import { Agent, request } from 'undici';
import type { Upstream } from '../../../spec/upstream.js';
import type { PoolMember } from './picker.js';

/**
 * Metric names tried in order, first present wins. Model servers publish their queue as a gauge:
 * vLLM `vllm:num_requests_waiting` / `_running` and `vllm:kv_cache_usage_perc` (older releases:
 * `vllm:gpu_cache_usage_perc`, a 0..1 fraction despite the name), TGI `tgi_queue_size` and
 * `tgi_batch_current_size`, Triton `nv_inference_pending_request_count`, SGLang
 * `sglang:num_queue_reqs` / `sglang:num_running_reqs` / `sglang:token_usage`.
 */
export const DEFAULT_WAITING = ['vllm:num_requests_waiting', 'tgi_queue_size', 'nv_inference_pending_request_count', 'sglang:num_queue_reqs'];
export const DEFAULT_RUNNING = ['vllm:num_requests_running', 'tgi_batch_current_size', 'sglang:num_running_reqs'];
export const DEFAULT_CACHE_USAGE = ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc', 'sglang:token_usage'];

export interface LoadMetricNames {
  readonly waiting: readonly string[];
  readonly running: readonly string[];
  readonly cacheUsage: readonly string[];
}

export interface ParsedLoad {
  waiting: number;
  running: number;
  cacheUsage: number;
}

export function metricNames(loadMetrics: Upstream['loadMetrics']): LoadMetricNames {
  return {
    waiting: loadMetrics?.waiting?.length ? loadMetrics.waiting : DEFAULT_WAITING,
    running: loadMetrics?.running?.length ? loadMetrics.running : DEFAULT_RUNNING,
    cacheUsage: loadMetrics?.cacheUsage?.length ? loadMetrics.cacheUsage : DEFAULT_CACHE_USAGE,
  };
}

/**
 * Reads the few gauges it needs from Prometheus text exposition (format 0.0.4), summing every
 * series of a name across labels (one vLLM process may report per model or per engine). Lines of
 * other metrics are skipped after reading their name, so a 50 kB /metrics costs little.
 * Returns undefined when none of the waiting or running names appear: the page is not a model
 * server's, and guessing zero would make the worker look idle.
 */
export function parseLoad(text: string, names: LoadMetricNames): ParsedLoad | undefined {
  const wanted = new Set<string>([...names.waiting, ...names.running, ...names.cacheUsage]);
  const sums = new Map<string, number>();
  const n = text.length;
  let pos = 0;
  while (pos < n) {
    let end = text.indexOf('\n', pos);
    if (end === -1) end = n;
    const first = text.charCodeAt(pos);
    // '#' (HELP/TYPE/comments) and blank lines.
    if (first !== 35 && end > pos) {
      let i = pos;
      while (i < end) {
        const c = text.charCodeAt(i);
        if (c === 123 /* { */ || c === 32 /* space */ || c === 9 /* tab */) break;
        i++;
      }
      const name = text.slice(pos, i);
      if (wanted.has(name)) {
        const value = sampleValue(text, i, end);
        if (value !== undefined) sums.set(name, (sums.get(name) ?? 0) + value);
      }
    }
    pos = end + 1;
  }
  const waiting = firstPresent(sums, names.waiting);
  const running = firstPresent(sums, names.running);
  if (waiting === undefined && running === undefined) return undefined;
  let cacheUsage = firstPresent(sums, names.cacheUsage) ?? 0;
  // A server reporting 0..100 instead of 0..1.
  if (cacheUsage > 1.5) cacheUsage /= 100;
  return { waiting: waiting ?? 0, running: running ?? 0, cacheUsage };
}

/** The value after the name and optional `{labels}` (label values may hold spaces, braces, escaped quotes). */
function sampleValue(text: string, i: number, end: number): number | undefined {
  if (text.charCodeAt(i) === 123) {
    let quoted = false;
    for (i++; i < end; i++) {
      const c = text.charCodeAt(i);
      if (quoted) {
        if (c === 92 /* \ */) i++;
        else if (c === 34 /* " */) quoted = false;
      } else if (c === 34) quoted = true;
      else if (c === 125 /* } */) break;
    }
    i++;
  }
  while (i < end && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
  let j = i;
  while (j < end && text.charCodeAt(j) !== 32 && text.charCodeAt(j) !== 9 && text.charCodeAt(j) !== 13) j++;
  if (j === i) return undefined;
  const v = Number(text.slice(i, j));
  return Number.isFinite(v) ? v : undefined;
}

function firstPresent(sums: Map<string, number>, names: readonly string[]): number | undefined {
  for (const name of names) {
    const v = sums.get(name);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * Polls every member's metrics page on its own timer and stores the result on the shared
 * TargetState (`load`), stamped with the time it arrived. One scrape per member at a time: a
 * worker slow to answer /metrics is skipped, not piled on. The request timeout is shorter than
 * the interval so a hung worker's load goes stale (and least-queue treats it as saturated)
 * rather than silently keeping its last good value.
 *
 * Scrapes use their own small connection pool, apart from traffic connections, so an aborted
 * scrape never tears down a socket carrying a user's stream.
 */
export class LoadScraper {
  private timer: NodeJS.Timeout | undefined;
  private readonly busy: Uint8Array;
  private readonly agent = new Agent({ connections: 2, keepAliveTimeout: 60_000, pipelining: 1 });
  private readonly names: LoadMetricNames;
  private readonly path: string;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private closed = false;

  constructor(
    private readonly members: readonly PoolMember[],
    loadMetrics: Upstream['loadMetrics'],
    /** Told after each member's successful scrape (least-queue resets its dispatch counter). */
    private readonly onScraped: (member: PoolMember) => void = () => {},
  ) {
    this.names = metricNames(loadMetrics);
    this.path = loadMetrics?.path ?? '/metrics';
    this.intervalMs = loadMetrics?.intervalMs ?? 1000;
    this.timeoutMs = Math.max(50, Math.floor(this.intervalMs * 0.8));
    this.busy = new Uint8Array(members.length);
  }

  start(): this {
    if (this.timer || this.closed) return this;
    void this.scrapeAll();
    this.timer = setInterval(() => void this.scrapeAll(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  /** Scrape every member once; resolves when all answered or failed. */
  async scrapeAll(): Promise<void> {
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < this.members.length; i++) if (!this.busy[i]) jobs.push(this.scrape(i));
    await Promise.all(jobs);
  }

  private async scrape(i: number): Promise<void> {
    const member = this.members[i]!;
    this.busy[i] = 1;
    try {
      const res = await request(member.target.url + this.path, {
        dispatcher: this.agent,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (res.statusCode !== 200) {
        await res.body.dump();
        return;
      }
      const load = parseLoad(await res.body.text(), this.names);
      if (!load || this.closed) return;
      member.target.load = { waiting: load.waiting, running: load.running, cacheUsage: load.cacheUsage, at: Date.now() };
      this.onScraped(member);
    } catch {
      // Unreachable or slow: the last load ages into staleness on its own.
    } finally {
      this.busy[i] = 0;
    }
  }

  stop(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.agent.close().catch(() => {});
  }
}
