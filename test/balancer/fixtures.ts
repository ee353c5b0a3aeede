import { recordLatency } from '../../gateway/src/balancer/peak-ewma.js';
import type { Upstream } from '../../spec/upstream.js';
import type { PickContext, Picker, PoolMember } from '../../gateway/src/balancer/picker.js';
import { TargetState } from '../../gateway/src/balancer/target-state.js';

/** Pool members over fresh target states, as the pool would build them (no sockets). */
export function members(weights: readonly number[], urls?: readonly string[]): PoolMember[] {
  return weights.map((weight, index) => ({
    target: new TargetState(urls?.[index] ?? `http://10.0.0.${index + 1}:8000`),
    index,
    weight,
    effectiveWeight: weight,
    backup: false,
    maxConnections: Infinity,
    draining: false,
  }));
}

export function upstream(algorithm: Upstream['algorithm'], targets: readonly PoolMember[], extra: Partial<Upstream> = {}): Upstream {
  return {
    name: 'pool',
    algorithm,
    targets: targets.map((m) => ({ url: m.target.url, weight: m.weight, backup: false })),
    slowStartMs: 0,
    panicThreshold: 0,
    retryBudgetPercent: 20,
    ...extra,
  } as Upstream;
}

export const ctx = (clientIp = '192.0.2.1', hashKey?: string): PickContext => ({ clientIp, hashKey });

/** Count picks per member index. */
export function tally(picker: Picker, eligible: readonly PoolMember[], n: number, context: PickContext = ctx()): number[] {
  const counts = new Array<number>(Math.max(...eligible.map((m) => m.index)) + 1).fill(0);
  for (let i = 0; i < n; i++) counts[picker.pick(eligible, context).index]!++;
  return counts;
}

export interface SimulationOptions {
  /** Requests to send. */
  requests: number;
  /** Time between arrivals (simulated ms). */
  gapMs: number;
  /** Service time per member: how long a request holds that worker. */
  serviceMs: readonly number[];
  /** Every this many ms, publish each member's load as a model server's /metrics would. */
  scrapeEveryMs?: number;
  /** Called after each publication, e.g. to reset least-queue's dispatch counters. */
  onScrape?: (m: PoolMember) => void;
}

/**
 * A tiny event-driven simulation on simulated time: requests arrive every `gapMs`, the picker
 * places each one, the chosen worker holds it for its service time, completions feed
 * `observe` and decrement `inFlight` exactly as the pool does. Deterministic: no timers, no
 * wall clock. `clock.now` is the simulated time for pickers that read a clock.
 */
export function simulate(
  picker: Picker,
  pool: readonly PoolMember[],
  options: SimulationOptions,
  clock: { now: number },
): number[] {
  const counts = new Array<number>(pool.length).fill(0);
  // Completions as a binary min-heap of [time, memberIndex, startedAt].
  const heap: [number, number, number][] = [];
  const push = (e: [number, number, number]) => {
    heap.push(e);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p]![0] <= heap[i]![0]) break;
      [heap[p], heap[i]] = [heap[i]!, heap[p]!];
      i = p;
    }
  };
  const pop = (): [number, number, number] => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]![0] < heap[m]![0]) m = l;
        if (r < heap.length && heap[r]![0] < heap[m]![0]) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  let nextScrape = 0;
  const context: PickContext = { clientIp: '192.0.2.1', hashKey: undefined };
  for (let r = 0; r < options.requests; r++) {
    const t = r * options.gapMs;
    while (heap.length && heap[0]![0] <= t) {
      const [done, idx, started] = pop();
      clock.now = done;
      const m = pool[idx]!;
      m.target.inFlight--;
      recordLatency(m.target, done - started, true, done);
      picker.observe?.(m, done - started, true);
    }
    clock.now = t;
    if (options.scrapeEveryMs !== undefined && t >= nextScrape) {
      for (const m of pool) {
        m.target.load = { waiting: 0, running: m.target.inFlight, cacheUsage: 0, at: t };
        options.onScrape?.(m);
      }
      nextScrape = t + options.scrapeEveryMs;
    }
    const m = picker.pick(pool, context);
    counts[m.index]!++;
    m.target.inFlight++;
    push([t + options.serviceMs[m.index]!, m.index, t]);
  }
  return counts;
}
