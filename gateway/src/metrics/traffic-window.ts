/**
 * The last fifteen minutes of traffic per route, for the console's overview: a ring of 5-second
 * buckets (180 of them) holding a request count, an error count and a latency histogram, so
 * requests/s, error rate and p50/p99 can be drawn as lines without a Prometheus server.
 *
 * Recording is O(1) with no allocation and no clock read: a route's ring is allocated once, on
 * its first request, as flat typed arrays; a bucket is reset lazily when the clock has moved
 * past it; the current bucket comes from one coarse process-wide clock (Date.now() was the
 * costliest step of a record). (Written by hand rather than with prom-client: prom-client has
 * no sliding window, and its summaries' quantile streams allocate per observation.)
 */

export const BUCKET_MS = 5_000;
export const BUCKETS = 180; // 15 minutes

/** Upper bounds in ms; log-spaced so p50/p99 are within ~25 % from cache hits to long generations. */
const LATENCY_BOUNDS_MS = [
  1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 7000, 10000, 15000, 20000, 30000, 60000,
  120000, Infinity,
];
const L = LATENCY_BOUNDS_MS.length;

/**
 * The current 5-second slot for every window in the process, refreshed four times a second by
 * one unref'd timer: a request at a bucket boundary may land up to 250 ms late in the older
 * bucket, which a 5-second chart cannot show.
 */
let coarseSlot = Math.floor(Date.now() / BUCKET_MS);
let clockRunning = false;
function startCoarseClock(): void {
  if (clockRunning) return;
  clockRunning = true;
  setInterval(() => {
    coarseSlot = Math.floor(Date.now() / BUCKET_MS);
  }, 250).unref();
}

/** Index of the first bound ≥ ms: a binary search, five steps over the thirty bounds. */
function latencyBucket(ms: number): number {
  let lo = 0;
  let hi = L - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms > LATENCY_BOUNDS_MS[mid]!) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A status counted as an error in the error rate: the gateway or the worker failed (5xx). */
const isError = (status: number) => status >= 500;

class RouteRing {
  /** Which 5-second slot (ms / BUCKET_MS) each bucket currently holds; -1 when never used. */
  readonly slots = new Float64Array(BUCKETS).fill(-1);
  readonly counts = new Uint32Array(BUCKETS);
  readonly errors = new Uint32Array(BUCKETS);
  readonly latency = new Uint32Array(BUCKETS * L);

  record(slot: number, status: number, durationMs: number): void {
    const i = slot % BUCKETS;
    if (this.slots[i] !== slot) {
      this.slots[i] = slot;
      this.counts[i] = 0;
      this.errors[i] = 0;
      this.latency.fill(0, i * L, i * L + L);
    }
    this.counts[i]!++;
    if (isError(status)) this.errors[i]!++;
    this.latency[i * L + latencyBucket(durationMs)]!++;
  }
}

export interface TrafficPoint {
  /** Start of the bucket, ms since the epoch. */
  t: number;
  requestsPerSecond: number;
  /** Share of answers that were 5xx, 0..1; 0 without requests. */
  errorRate: number;
  /** Latency quantiles in ms (histogram upper bounds, interpolated); null without requests. */
  p50: number | null;
  p99: number | null;
}

export interface RouteTraffic {
  route: string;
  requests: number;
  errors: number;
  p50: number | null;
  p99: number | null;
  points: TrafficPoint[];
}

export class TrafficWindow {
  private readonly routes = new Map<string, RouteRing>();

  /** `clock` is for tests; without one, requests are bucketed by the coarse process clock. */
  constructor(private readonly clock?: () => number) {
    if (!clock) startCoarseClock();
  }

  record(route: string, status: number, durationMs: number): void {
    let ring = this.routes.get(route);
    if (!ring) this.routes.set(route, (ring = new RouteRing()));
    ring.record(this.clock ? Math.floor(this.clock() / BUCKET_MS) : coarseSlot, status, durationMs);
  }

  /** Every route seen in the window, oldest point first, one point per bucket (zeros included). */
  snapshot(): RouteTraffic[] {
    const current = Math.floor((this.clock ?? Date.now)() / BUCKET_MS);
    const out: RouteTraffic[] = [];
    const total = new Float64Array(L);
    const bucket = new Float64Array(L);
    for (const [route, ring] of this.routes) {
      total.fill(0);
      let requests = 0;
      let errors = 0;
      const points: TrafficPoint[] = [];
      for (let slot = current - BUCKETS + 1; slot <= current; slot++) {
        const i = slot % BUCKETS;
        const live = ring.slots[i] === slot;
        const count = live ? ring.counts[i]! : 0;
        const errs = live ? ring.errors[i]! : 0;
        bucket.fill(0);
        if (live) for (let b = 0; b < L; b++) bucket[b] = ring.latency[i * L + b]!;
        for (let b = 0; b < L; b++) total[b]! += bucket[b]!;
        requests += count;
        errors += errs;
        points.push({
          t: slot * BUCKET_MS,
          requestsPerSecond: count / (BUCKET_MS / 1000),
          errorRate: count ? errs / count : 0,
          p50: quantile(bucket, count, 0.5),
          p99: quantile(bucket, count, 0.99),
        });
      }
      if (requests === 0) continue;
      out.push({ route, requests, errors, p50: quantile(total, requests, 0.5), p99: quantile(total, requests, 0.99), points });
    }
    return out.sort((a, b) => a.route.localeCompare(b.route));
  }
}

/** The q-quantile of a histogram, interpolated linearly inside its bucket (as Prometheus' histogram_quantile). */
function quantile(histogram: Float64Array, count: number, q: number): number | null {
  if (count === 0) return null;
  const rank = q * count;
  let seen = 0;
  for (let b = 0; b < L; b++) {
    const n = histogram[b]!;
    if (n > 0 && seen + n >= rank) {
      const lower = b === 0 ? 0 : LATENCY_BOUNDS_MS[b - 1]!;
      const upper = LATENCY_BOUNDS_MS[b]!;
      // The open top bucket has no upper bound to interpolate to: report its lower one.
      if (upper === Infinity) return lower;
      return Math.round((lower + ((rank - seen) / n) * (upper - lower)) * 10) / 10;
    }
    seen += n;
  }
  return LATENCY_BOUNDS_MS[L - 2]!;
}
