import type { FastifyBaseLogger } from 'fastify';
import type { Cluster, Redis } from 'ioredis';
import { Counter, GaugeFunction, type MetricsRegistry } from '../../gateway/src/metrics/prometheus.js';
import type { NodeCounters, WindowCount } from '../../gateway/src/contracts/node-counters.js';
import { FixedWindows } from './fixed-windows.js';
import { connectRedis, parseRedisUrl } from './redis-connection.js';

export type { WindowCount } from '../../gateway/src/contracts/node-counters.js';
type Done = (err: Error | null, result: WindowCount) => void;

/**
 * Every script first checks that it runs before the deadline the node gave it (ARGV[1], Redis
 * clock, ms). A command that reaches Redis later than that — it sat in the socket while Redis
 * hung — was already counted in the node's memory when the node stopped waiting, so it must not
 * count again: it answers {-1} and changes nothing. That is what keeps a resumed Redis from
 * over-counting the shared window.
 */
export const LATE_GUARD = `
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > tonumber(ARGV[1]) then return {-1, 0} end
`;

/** Fixed window: the first hit sets the expiry, later hits only count (same as @fastify/rate-limit's stores). */
const WINDOW_LUA = `${LATE_GUARD}
local current = redis.call('INCR', KEYS[1])
local ttl
if current == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
else
  ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  end
end
return {current, ttl}`;

/** Calendar quota: the counter dies at the period's end, whoever counted first. */
const QUOTA_LUA = `${LATE_GUARD}
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return {current, 0}`;

/**
 * One server, a master through Sentinel, or a Redis Cluster (redis-connection.ts). Every script
 * here and in the token counters names its keys in KEYS, one key or several under one hash tag
 * (`{…}`), so in a cluster each runs on the one node that owns its slot.
 */
type CountingRedis = (Redis | Cluster) & {
  sbWindow(key: string, deadlineMs: number, windowMs: number): Promise<[number, number]>;
  sbQuota(key: string, deadlineMs: number, resetAtMs: number): Promise<[number, number]>;
};

/** Commands waiting longer than this count locally instead: a slow Redis must not stall traffic. */
const COMMAND_TIMEOUT_MS = 250;
/**
 * Redis must run a command this much before the node's own timeout, so that a hit is counted by
 * Redis or by the node, not both: the margin is for the reply's way back and for the error of
 * the clock-offset estimate (half a round trip).
 */
const DEADLINE_MARGIN_MS = 50;
/** While the breaker is open, one probe (TIME) at a time, this often. */
const PROBE_INTERVAL_MS = 500;

/** A monotonic wall clock: deadlines must not jump with the system clock. */
const clock = (): number => performance.timeOrigin + performance.now();

export interface CounterStoreOptions {
  redisUrl: string | undefined;
  logger: FastifyBaseLogger;
  /** Resolved when needed: the node's metrics registry, if it has one. */
  metrics: () => { registry: MetricsRegistry } | undefined;
  /** WORKERS > 1: the node's counters in the cluster primary, used whenever Redis is not. */
  nodeCounters?: NodeCounters | undefined;
}

/**
 * The rate-limit and quota counters of one node, kept in the node's shared services so that
 * counts survive generation swaps. With REDIS_URL every node counts in Redis (one script per
 * check), so limits hold across the fleet.
 *
 * In front of Redis sits a circuit breaker. The first failed or timed-out command (250 ms) opens
 * it; while open, every check counts in the node's memory at once — nothing is sent, nothing
 * queued (ioredis' offline queue is off, no retries) — and one probe every 500 ms asks Redis for
 * its clock; the first answer closes it. Local counting carries on from the last count Redis
 * gave the node for that key, so one node's limit holds through an outage; a fleet of N nodes
 * admits up to N× the limit. Commands that reach Redis after their deadline (they sat in the
 * socket of a hung Redis) change nothing there, so a resumed Redis does not over-count; counts
 * made locally are not copied into Redis either. The outage is logged once at error level, the
 * recovery as a warning, and visible as switchboard_ratelimit_redis_up 0 and
 * switchboard_ratelimit_local_fallback_total.
 *
 * A node of several workers (WORKERS > 1) counts request limits and quotas in its primary
 * (`nodeCounters`) wherever it would count in memory — without Redis, or while Redis is out —
 * so the node admits its limit once, not once per worker. If the primary does not answer within
 * the same 250 ms, the worker counts alone for that hit.
 */
export class CounterStore {
  private readonly windows = new FixedWindows();
  private readonly redis: CountingRedis | undefined;
  /** Open until the first probe answers, and whenever Redis fails a command. */
  private breakerOpen = true;
  /** An outage was logged and its end is still to be logged. */
  private outage = false;
  /** Redis' clock minus ours (ms), measured by every probe; deadlines are sent in Redis' time. */
  private clockOffsetMs = 0;
  private probing = false;
  /** Shutting down: the connection closing is no outage. */
  private closing = false;
  private prober: NodeJS.Timeout | undefined;
  private fallbacks: Counter | undefined;
  private metricsRegistry: MetricsRegistry | undefined;

  constructor(private readonly options: CounterStoreOptions) {
    if (options.redisUrl) {
      const redis = connectRedis(parseRedisUrl(options.redisUrl), {
        // Drop, don't queue: a command that cannot be sent now is counted locally now.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: COMMAND_TIMEOUT_MS,
        connectTimeout: 2_000,
        retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
        lazyConnect: false,
      }) as CountingRedis;
      redis.defineCommand('sbWindow', { numberOfKeys: 1, lua: WINDOW_LUA });
      redis.defineCommand('sbQuota', { numberOfKeys: 1, lua: QUOTA_LUA });
      redis.on('error', (err: Error) => this.trip(err));
      redis.on('end', () => this.trip(new Error('connection ended')));
      redis.on('close', () => this.trip(new Error('connection closed')));
      redis.on('ready', () => this.probe());
      this.redis = redis;
      this.startProbing();
    }
  }

  /** WORKERS > 1: the node's counters in the primary, for the other counter families too. */
  get nodeCounters(): NodeCounters | undefined {
    return this.options.nodeCounters;
  }

  get shared(): boolean {
    return this.redis !== undefined;
  }

  get redisUp(): boolean {
    return this.redis?.status === 'ready' && !this.breakerOpen;
  }

  /** @fastify/rate-limit store interface: count one hit in `key`'s fixed window. */
  incr(key: string, done: Done, windowMs: number): void {
    const redis = this.redis;
    if (redis !== undefined && !this.breakerOpen) {
      redis.sbWindow(key, this.deadline(), windowMs).then(
        (r) => {
          if (r[0] < 0) {
            this.trip(new Error(`Redis ran a command later than ${COMMAND_TIMEOUT_MS - DEADLINE_MARGIN_MS} ms after it was sent`));
            return this.incrLocal(key, done, windowMs);
          }
          this.mirror(key, r[0], Date.now() + r[1]);
          done(null, { current: r[0], ttl: r[1] });
        },
        (err: Error) => {
          this.trip(err);
          this.incrLocal(key, done, windowMs);
        },
      );
      return;
    }
    this.incrLocal(key, done, windowMs);
  }

  /** Keys are namespaced by the caller (route / consumer), so every child is the store itself. */
  child(): CounterStore {
    return this;
  }

  /** Count one request against a calendar quota ending at `resetAtMs`. */
  quota(key: string, resetAtMs: number): Promise<number> | number {
    const redis = this.redis;
    if (redis !== undefined && !this.breakerOpen)
      return redis.sbQuota(key, this.deadline(), resetAtMs).then(
        (r) => {
          if (r[0] < 0) {
            this.trip(new Error(`Redis ran a command later than ${COMMAND_TIMEOUT_MS - DEADLINE_MARGIN_MS} ms after it was sent`));
            return this.quotaLocal(key, resetAtMs);
          }
          this.mirror(key, r[0], resetAtMs);
          return r[0];
        },
        (err: Error) => {
          this.trip(err);
          return this.quotaLocal(key, resetAtMs);
        },
      );
    return this.quotaLocal(key, resetAtMs);
  }

  /**
   * Another counter family's command (token budgets, token usage) through this store's Redis
   * and breaker: `remote` while Redis answers, `local` when the breaker is open or the command
   * fails. `remote` resolves undefined when Redis ran it past its deadline (LATE_GUARD), which
   * trips the breaker like a timeout, so such families fall back exactly as request limits do.
   */
  through<T>(remote: (redis: Redis, deadlineMs: number) => Promise<T | undefined>, local: () => T | Promise<T>): Promise<T> | T {
    const redis = this.redis;
    if (redis === undefined || this.breakerOpen) {
      if (redis !== undefined) this.countFallback();
      return local();
    }
    // A Cluster has the same command and defineCommand surface as a Redis (ioredis' Commander):
    // the families' scripts run on it unchanged, routed by their keys' slot.
    return remote(redis as Redis, this.deadline()).then(
      (r) => {
        if (r !== undefined) return r;
        this.trip(new Error(`Redis ran a command later than ${COMMAND_TIMEOUT_MS - DEADLINE_MARGIN_MS} ms after it was sent`));
        this.countFallback();
        return local();
      },
      (err: Error) => {
        this.trip(err);
        this.countFallback();
        return local();
      },
    );
  }

  /** The latest moment (Redis clock) at which Redis may still count a command sent now. */
  private deadline(): number {
    return Math.floor(clock() + this.clockOffsetMs) + COMMAND_TIMEOUT_MS - DEADLINE_MARGIN_MS;
  }

  /** Remember Redis' count, so that if Redis goes away local counting starts from it, not from zero. */
  private mirror(key: string, count: number, resetAtMs: number): void {
    this.windows.set(key, count, resetAtMs);
  }

  /** Redis is not asked: the node's primary counts for every worker, else this process does. */
  private incrLocal(key: string, done: Done, windowMs: number): void {
    if (this.redis !== undefined) this.countFallback();
    const node = this.options.nodeCounters;
    if (node === undefined) return done(null, this.windows.hit(key, windowMs));
    node.window(key, windowMs).then(
      (r) => {
        this.mirror(key, r.current, Date.now() + r.ttl);
        done(null, r);
      },
      () => done(null, this.windows.hit(key, windowMs)),
    );
  }

  private quotaLocal(key: string, resetAtMs: number): Promise<number> | number {
    if (this.redis !== undefined) this.countFallback();
    const node = this.options.nodeCounters;
    if (node === undefined) return this.windows.quota(key, resetAtMs);
    return node.quota(key, resetAtMs).then(
      (count) => {
        this.mirror(key, count, resetAtMs);
        return count;
      },
      () => this.windows.quota(key, resetAtMs),
    );
  }

  /** Open the breaker: from now on count locally without asking Redis, and probe in the background. */
  private trip(err: Error): void {
    if (this.closing) return;
    if (!this.breakerOpen) {
      this.breakerOpen = true;
      this.startProbing();
    }
    if (this.outage) return;
    this.outage = true;
    this.options.logger.error(
      { err: err.message },
      'RATE-LIMIT REDIS UNAVAILABLE: counting in this node\'s memory until it answers again; limits now hold per node, not across the fleet',
    );
  }

  private startProbing(): void {
    if (this.prober !== undefined) return;
    this.prober = setInterval(() => this.probe(), PROBE_INTERVAL_MS);
    this.prober.unref();
  }

  /** Ask Redis for its clock: an answer within the command timeout closes the breaker and re-measures the offset. */
  private probe(): void {
    const redis = this.redis;
    if (redis === undefined || this.probing || redis.status !== 'ready') return;
    this.probing = true;
    const sent = clock();
    redis.time().then(
      ([seconds, micros]) => {
        this.probing = false;
        const received = clock();
        this.clockOffsetMs = Number(seconds) * 1000 + Number(micros) / 1000 - (sent + received) / 2;
        this.resetBreaker();
      },
      (err: Error) => {
        this.probing = false;
        this.trip(err);
      },
    );
  }

  private resetBreaker(): void {
    if (!this.breakerOpen) return;
    this.breakerOpen = false;
    clearInterval(this.prober);
    this.prober = undefined;
    if (!this.outage) return;
    this.outage = false;
    this.options.logger.warn('rate-limit Redis reachable again: counters are shared across nodes again');
  }

  private countFallback(): void {
    this.attachMetrics();
    this.fallbacks?.inc('', () => ({}));
  }
  /** Register this store's metrics with the node's registry once it has one. */
  attachMetrics(): void {
    if (this.redis === undefined) return;
    const metrics = this.options.metrics();
    if (metrics && metrics.registry !== this.metricsRegistry) {
      this.metricsRegistry = metrics.registry;
      this.fallbacks = metrics.registry.register(
        new Counter('switchboard_ratelimit_local_fallback_total', 'Rate-limit and quota checks counted in node memory because Redis was unavailable.'),
      );
      metrics.registry.register(
        new GaugeFunction('switchboard_ratelimit_redis_up', '1 while the shared rate-limit Redis answers; 0 while nodes count locally.', () => [
          { labels: {}, value: this.redisUp ? 1 : 0 },
        ]),
      );
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    this.windows.close();
    clearInterval(this.prober);
    if (this.redis) this.redis.disconnect();
  }
}
