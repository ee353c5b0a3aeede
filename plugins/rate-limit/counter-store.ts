import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import { Counter, GaugeFunction, type MetricsRegistry } from '../../gateway/src/metrics/prometheus.js';

/** What @fastify/rate-limit's store interface hands back. */
export interface WindowCount {
  current: number;
  /** Milliseconds until the window resets. */
  ttl: number;
}
type Done = (err: Error | null, result: WindowCount) => void;

/** Fixed window: the first hit sets the expiry, later hits only count (same as @fastify/rate-limit's stores). */
const WINDOW_LUA = `
local current = redis.call('INCR', KEYS[1])
local ttl
if current == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
else
  ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
  end
end
return {current, ttl}`;

/** Calendar quota: the counter dies at the period's end, whoever counted first. */
const QUOTA_LUA = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end
return current`;

interface LocalWindow {
  count: number;
  resetAtMs: number;
}

type CountingRedis = Redis & {
  sbWindow(key: string, windowMs: number): Promise<[number, number]>;
  sbQuota(key: string, resetAtMs: number): Promise<number>;
};

/** Commands waiting longer than this count locally instead: a slow Redis must not stall traffic. */
const COMMAND_TIMEOUT_MS = 250;

export interface CounterStoreOptions {
  redisUrl: string | undefined;
  logger: FastifyBaseLogger;
  /** Resolved when needed: the node's metrics registry, if it has one. */
  metrics: () => { registry: MetricsRegistry } | undefined;
}

/**
 * The rate-limit and quota counters of one node, kept in the node's shared services so that
 * counts survive generation swaps. With REDIS_URL every node counts in Redis (one INCR script
 * per check), so limits hold across the fleet. When Redis is unreachable the node keeps
 * serving and counts in memory instead: limits then hold per node (a fleet of N nodes admits
 * up to N× the limit) until Redis answers again; the outage is logged once at error level and
 * visible as switchboard_ratelimit_redis_up 0 and switchboard_ratelimit_local_fallback_total.
 * Counts made locally during the outage are not carried into Redis afterwards.
 */
export class CounterStore {
  private readonly windows = new Map<string, LocalWindow>();
  private readonly redis: CountingRedis | undefined;
  private outage = false;
  private fallbacks: Counter | undefined;
  private metricsRegistry: MetricsRegistry | undefined;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: CounterStoreOptions) {
    if (options.redisUrl) {
      const redis = new Redis(options.redisUrl, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: COMMAND_TIMEOUT_MS,
        connectTimeout: 2_000,
        retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
        lazyConnect: false,
      }) as CountingRedis;
      redis.defineCommand('sbWindow', { numberOfKeys: 1, lua: WINDOW_LUA });
      redis.defineCommand('sbQuota', { numberOfKeys: 1, lua: QUOTA_LUA });
      redis.on('error', (err: Error) => this.down(err));
      redis.on('end', () => this.down(new Error('connection ended')));
      redis.on('close', () => this.down(new Error('connection closed')));
      redis.on('ready', () => {
        if (this.outage) this.recovered();
      });
      this.redis = redis;
    }
    // Local windows past their reset are garbage; sweep them so a spray of keys cannot grow memory forever.
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const [key, w] of this.windows) if (w.resetAtMs <= now) this.windows.delete(key);
    }, 30_000);
    this.sweeper.unref();
  }

  get shared(): boolean {
    return this.redis !== undefined;
  }

  get redisUp(): boolean {
    return this.redis?.status === 'ready' && !this.outage;
  }

  /** @fastify/rate-limit store interface: count one hit in `key`'s fixed window. */
  incr(key: string, done: Done, windowMs: number): void {
    const redis = this.redis;
    if (redis !== undefined && redis.status === 'ready') {
      redis.sbWindow(key, windowMs).then(
        (r) => {
          if (this.outage) this.recovered();
          done(null, { current: r[0], ttl: r[1] });
        },
        (err: Error) => {
          this.down(err);
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
    if (redis !== undefined && redis.status === 'ready')
      return redis.sbQuota(key, resetAtMs).then(
        (n) => {
          if (this.outage) this.recovered();
          return n;
        },
        (err: Error) => {
          this.down(err);
          return this.quotaLocal(key, resetAtMs);
        },
      );
    return this.quotaLocal(key, resetAtMs);
  }

  private incrLocal(key: string, done: Done, windowMs: number): void {
    if (this.redis !== undefined) this.countFallback();
    const now = Date.now();
    let w = this.windows.get(key);
    if (w === undefined || w.resetAtMs <= now) {
      w = { count: 0, resetAtMs: now + windowMs };
      this.windows.set(key, w);
    }
    w.count++;
    done(null, { current: w.count, ttl: w.resetAtMs - now });
  }

  private quotaLocal(key: string, resetAtMs: number): number {
    if (this.redis !== undefined) this.countFallback();
    let w = this.windows.get(key);
    if (w === undefined || w.resetAtMs <= Date.now()) {
      w = { count: 0, resetAtMs };
      this.windows.set(key, w);
    }
    return ++w.count;
  }

  private recovered(): void {
    this.outage = false;
    this.options.logger.warn('rate-limit Redis reachable again: counters are shared across nodes again');
  }

  private down(err: Error): void {
    if (this.outage) return;
    this.outage = true;
    this.options.logger.error(
      { err: err.message },
      'RATE-LIMIT REDIS UNAVAILABLE: counting in this node\'s memory until it answers again; limits now hold per node, not across the fleet',
    );
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
    clearInterval(this.sweeper);
    if (this.redis) this.redis.disconnect();
  }
}
