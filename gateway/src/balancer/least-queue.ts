import { currentLatency, latencyFloor } from './peak-ewma.js';
import type { CreatePicker, Picker, PickerOptions, PoolMember } from './picker.js';
import { unseededRandom, type Random } from './prng.js';
import { LoadScraper } from './load-scraper.js';

/** A worker whose load report is older than staleMs: treated as full, not as idle. */
const SATURATED = 1e15;
/** Members within this many queued requests (per unit of weight) of the best share the traffic. */
const MARGIN = 1;
/**
 * KV-cache usage above this starts to cost: vLLM preempts running sequences when its cache is
 * full, so a worker at 100% is about to get slower for everyone; at 1.0 it counts as
 * CACHE_PENALTY requests busier.
 */
const CACHE_KNEE = 0.9;
const CACHE_PENALTY = 4;

export interface LeastQueueOptions {
  random?: Random;
  now?: () => number;
  /** false: do not start the /metrics scraper (tests feed `target.load` themselves). */
  scrape?: boolean;
}

/**
 * Least queue for GPU model servers. A server's real backlog is what it reports on /metrics
 * (requests waiting for a batch slot plus those running); the gateway's in-flight count alone
 * misses other clients of the same worker and says nothing of per-request cost.
 *
 * Score = (backlog + cache penalty) / effectiveWeight, where backlog estimates the worker's queue
 * now rather than at its last scrape: the scraped waiting + running, plus the gateway's
 * dispatches to it since, minus the gateway's requests to it that finished since (whenever they
 * started) — and never less than the gateway's own in-flight count, which is exact for its own
 * traffic. Without the additions every request in a one-second window would go to the worker
 * that looked idle at the scrape; without the subtractions a worker caught busy at a scrape
 * would look busy for a whole interval after it had drained (the balance bench measured that:
 * p99 827 ms at 85 % load against 274 ms for least-connections).
 *
 * The pick is weighted random among the members within MARGIN of the best score, not always the
 * single best, so several gateway nodes reading the same scrape do not all stampede one idle
 * worker (the herd effect that power-of-two choices also avoids).
 *
 * Staleness: a member whose load is missing or older than `loadMetrics.staleMs` scores as
 * saturated, so a worker whose /metrics hangs stops receiving work. If no member has a fresh
 * load (scraping disabled by the network, or the first second after start) the picker falls back
 * to least-connections on the gateway's own in-flight counts.
 */
export interface LeastQueuePicker extends Picker {
  /** Requests started to `member` since its last scrape and not yet finished (tests, health API). */
  dispatchedSinceScrape(member: PoolMember): number;
  /** A fresh load was stored for `member`: restart its dispatch count (the scraper calls this). */
  scraped(member: PoolMember): void;
  close(): void;
}

export function createLeastQueuePicker({ members, upstream }: PickerOptions, opts: LeastQueueOptions = {}): LeastQueuePicker {
  const random = opts.random ?? unseededRandom();
  const now = opts.now ?? Date.now;
  const staleMs = upstream.loadMetrics?.staleMs ?? 5000;
  let size = 0;
  for (const m of members) if (m.index + 1 > size) size = m.index + 1;
  const sinceScrape = new Float64Array(size);
  /** Requests to each member that finished since its last scrape, whenever they started. */
  const finishedSince = new Float64Array(size);
  /** When each member's last load arrived, on the picker's clock. */
  const scrapedAt = new Float64Array(size);
  let scores = new Float64Array(Math.max(1, members.length));
  const scraper =
    opts.scrape === false
      ? undefined
      : new LoadScraper(members, upstream.loadMetrics, (m) => {
          sinceScrape[m.index] = 0;
          finishedSince[m.index] = 0;
          scrapedAt[m.index] = now();
        }).start();

  return {
    dispatchedSinceScrape(member: PoolMember): number {
      return sinceScrape[member.index] ?? 0;
    },
    scraped(member: PoolMember): void {
      sinceScrape[member.index] = 0;
      finishedSince[member.index] = 0;
      scrapedAt[member.index] = now();
    },
    observe(member: PoolMember, latencyMs: number): void {
      const i = member.index;
      if (i >= size) return;
      if (sinceScrape[i]! > 0 && now() - latencyMs >= scrapedAt[i]!) sinceScrape[i]!--;
      else finishedSince[i]!++;
    },
    pick(eligible: readonly PoolMember[]): PoolMember {
      const n = eligible.length;
      if (n > scores.length) scores = new Float64Array(n);
      const t = now();
      // Queue length alone treats a slow GPU's queue like a fast one's: weigh each request in
      // the queue by the worker's own latency (the pool's peak-EWMA), so the score estimates the
      // time a new request would wait — the measure a caller cares about.
      const floor = latencyFloor(eligible);
      let fresh = false;
      for (let i = 0; i < n; i++) {
        const m = eligible[i]!;
        const load = m.target.load;
        if (load !== undefined && t - load.at <= staleMs) {
          fresh = true;
          const cache = load.cacheUsage > CACHE_KNEE ? ((load.cacheUsage - CACHE_KNEE) / (1 - CACHE_KNEE)) * CACHE_PENALTY : 0;
          const estimate = load.waiting + load.running + (sinceScrape[m.index] ?? 0) - (finishedSince[m.index] ?? 0);
          const backlog = estimate > m.target.inFlight ? estimate : m.target.inFlight;
          scores[i] = ((backlog + 1 + cache) * currentLatency(m.target, floor, t)) / m.effectiveWeight;
        } else scores[i] = SATURATED;
      }
      if (!fresh)
        for (let i = 0; i < n; i++) {
          const m = eligible[i]!;
          scores[i] = ((m.target.inFlight + 1) * currentLatency(m.target, floor, t)) / m.effectiveWeight;
        }
      let best = Infinity;
      for (let i = 0; i < n; i++) if (scores[i]! < best) best = scores[i]!;
      // "Within one request of the best", at the fastest worker's latency.
      const limit = best + MARGIN * floor;
      let total = 0;
      for (let i = 0; i < n; i++) if (scores[i]! <= limit) total += eligible[i]!.effectiveWeight;
      let r = random() * total;
      let chosen: PoolMember | undefined;
      for (let i = 0; i < n; i++) {
        if (scores[i]! > limit) continue;
        chosen = eligible[i]!;
        r -= chosen.effectiveWeight;
        if (r < 0) break;
      }
      const member = chosen!;
      if (member.index < size) sinceScrape[member.index]!++;
      return member;
    },
    close(): void {
      scraper?.stop();
    },
  };
}

export const createPicker: CreatePicker = (options) => createLeastQueuePicker(options);
