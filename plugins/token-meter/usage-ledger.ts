import type { Redis } from 'ioredis';
import { LATE_GUARD, type CounterStore } from '../rate-limit/counter-store.js';

/**
 * Tokens per consumer, route and model, in minute, hour and day buckets (UTC), for
 * `GET /api/v1/consumers/{id}/usage`. Every node keeps its own counts in memory; with REDIS_URL
 * every node also adds them to one Redis hash per consumer and bucket (all of a consumer's keys
 * in one hash-tag slot, `{use:<consumer>}`), and the usage endpoint reads Redis — the fleet's
 * sum — while it answers, the node's own memory when it does not. A node of several workers
 * without Redis also sends each record to its primary (NodeCounters), whose ledger the usage
 * endpoint reads, so worker 1's admin API reports the whole node, not its own share.
 *
 * Three granularities are written rather than summed at read time so that a month by day is 31
 * reads, not 44 640.
 */
export const GRANULARITIES = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;
export type Granularity = keyof typeof GRANULARITIES;

/** How long each granularity is kept, and so the longest range one query may ask for. */
export const RETENTION_MS: Record<Granularity, number> = { minute: 2 * 86_400_000, hour: 62 * 86_400_000, day: 800 * 86_400_000 };
/** Most buckets one query may return: a day by minute, two months by hour, a year and more by day. */
export const MAX_BUCKETS: Record<Granularity, number> = { minute: 1_440, hour: 1_488, day: 800 };

const CODE: Record<Granularity, string> = { minute: 'm', hour: 'h', day: 'd' };
/** kind ∈ prompt | completion | unknown (answers whose usage could not be read, counted once each). */
export type UsageKind = 'prompt' | 'completion' | 'unknown';
const SEP = '\u0000';

export interface UsageRow {
  route: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  /** Answers on metered routes whose usage was malformed or unreadable: billed nothing. */
  unknownUsage: number;
}

export interface UsageBucket {
  start: string;
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  unknownUsage: number;
  breakdown: UsageRow[];
}

export interface UsageSeries {
  granularity: Granularity;
  from: string;
  to: string;
  /** Where the counts come from: the fleet's Redis, or this node's memory. */
  source: 'redis' | 'node';
  series: UsageBucket[];
  totals: Omit<UsageBucket, 'start'>;
}

/** HINCRBY each field into each bucket key: ARGV[2] = field count, then fields, then amounts, then each key's expiry (epoch ms). */
const RECORD_LUA = `${LATE_GUARD}
local n = tonumber(ARGV[2])
for k, key in ipairs(KEYS) do
  for i = 1, n do redis.call('HINCRBY', key, ARGV[2 + i], ARGV[2 + n + i]) end
  redis.call('PEXPIREAT', key, ARGV[2 + 2 * n + k])
end
return {0, 0}`;

const READ_LUA = `${LATE_GUARD}
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGETALL', key) end
return {0, out}`;

type LedgerRedis = Redis & {
  sbUsageRecord(numKeys: number, ...args: Array<string | number>): Promise<[number, number]>;
  sbUsageRead(numKeys: number, ...args: Array<string | number>): Promise<[number, string[][]]>;
};

type Fields = Map<string, number>;

export class UsageLedger {
  /** `${consumer}|${code}|${bucketStart}` → field → count. */
  private readonly memory = new Map<string, Fields>();
  private readonly defined = new WeakSet<Redis>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly store: CounterStore) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), 60_000);
    this.sweeper.unref();
  }

  /** Count one answer's tokens (or one unreadable usage) at `atMs`. */
  record(consumerId: string, route: string, model: string, counts: Partial<Record<UsageKind, number>>, atMs = Date.now()): void {
    const fields: string[] = [];
    const amounts: number[] = [];
    for (const kind of ['prompt', 'completion', 'unknown'] as const) {
      const n = counts[kind];
      if (n === undefined || n <= 0) continue;
      fields.push(kind + SEP + route + SEP + model);
      amounts.push(n);
    }
    if (fields.length === 0) return;
    const keys: string[] = [];
    const expiries: number[] = [];
    for (const g of Object.keys(GRANULARITIES) as Granularity[]) {
      const start = bucketStart(atMs, g);
      const memKey = `${consumerId}|${CODE[g]}|${start}`;
      let bucket = this.memory.get(memKey);
      if (bucket === undefined) this.memory.set(memKey, (bucket = new Map()));
      fields.forEach((f, i) => bucket!.set(f, (bucket!.get(f) ?? 0) + amounts[i]!));
      keys.push(`{use:${consumerId}}:${CODE[g]}:${start}`);
      expiries.push(start + RETENTION_MS[g]);
    }
    if (!this.store.shared) return this.store.nodeCounters?.recordUsage({ consumerId, route, model, counts, atMs });
    // Fire and forget: a slow Redis must not hold the answer; the breaker bounds the wait.
    void Promise.resolve(
      this.store.through(
        async (redis, deadlineMs) => {
          const [late] = await this.scripted(redis).sbUsageRecord(keys.length, ...keys, deadlineMs, fields.length, ...fields, ...amounts, ...expiries);
          return late < 0 ? undefined : true;
        },
        () => false,
      ),
    ).catch(() => {});
  }

  async query(consumerId: string, fromMs: number, toMs: number, granularity: Granularity): Promise<UsageSeries> {
    const node = this.store.nodeCounters;
    if (!this.store.shared && node !== undefined) {
      // The node's primary holds every worker's records; if it does not answer, this worker's own.
      const whole = await node.queryUsage({ consumerId, fromMs, toMs, granularity }).catch(() => undefined);
      if (whole !== undefined) return whole as UsageSeries;
    }
    return this.ownQuery(consumerId, fromMs, toMs, granularity);
  }

  /** This process' records (or, with REDIS_URL while it answers, the fleet's). */
  private async ownQuery(consumerId: string, fromMs: number, toMs: number, granularity: Granularity): Promise<UsageSeries> {
    const step = GRANULARITIES[granularity];
    const starts: number[] = [];
    for (let t = bucketStart(fromMs, granularity); t < toMs; t += step) starts.push(t);
    let source: UsageSeries['source'] = 'node';
    let buckets: Fields[] = starts.map((s) => this.memory.get(`${consumerId}|${CODE[granularity]}|${s}`) ?? new Map());
    if (this.store.shared && starts.length > 0) {
      const keys = starts.map((s) => `{use:${consumerId}}:${CODE[granularity]}:${s}`);
      const fromRedis = await this.store.through(
        async (redis, deadlineMs) => {
          const [late, rows] = await this.scripted(redis).sbUsageRead(keys.length, ...keys, deadlineMs);
          if (late < 0) return undefined;
          return rows.map((flat) => {
            const m: Fields = new Map();
            for (let i = 0; i + 1 < flat.length; i += 2) m.set(flat[i]!, Number(flat[i + 1]));
            return m;
          });
        },
        () => undefined as Fields[] | undefined,
      );
      if (fromRedis !== undefined) {
        buckets = fromRedis;
        source = 'redis';
      }
    }
    const series = starts.map((s, i) => summarize(new Date(s).toISOString(), buckets[i]!));
    const all: Fields = new Map();
    for (const b of buckets) for (const [f, n] of b) all.set(f, (all.get(f) ?? 0) + n);
    const { start: _start, ...totals } = summarize('', all);
    return { granularity, from: new Date(starts[0] ?? fromMs).toISOString(), to: new Date(toMs).toISOString(), source, series, totals };
  }

  private sweep(now: number): void {
    for (const key of this.memory.keys()) {
      const [, code, start] = key.split('|');
      const g = (Object.keys(CODE) as Granularity[]).find((x) => CODE[x] === code)!;
      if (Number(start) + RETENTION_MS[g] <= now) this.memory.delete(key);
    }
  }

  private scripted(redis: Redis): LedgerRedis {
    if (!this.defined.has(redis)) {
      redis.defineCommand('sbUsageRecord', { lua: RECORD_LUA });
      redis.defineCommand('sbUsageRead', { lua: READ_LUA });
      this.defined.add(redis);
    }
    return redis as LedgerRedis;
  }

  close(): void {
    clearInterval(this.sweeper);
  }
}

/** UTC bucket starts: a day is the UTC calendar day, as quotas are. */
export function bucketStart(ms: number, g: Granularity): number {
  const step = GRANULARITIES[g];
  return Math.floor(ms / step) * step;
}

function summarize(start: string, fields: Fields): UsageBucket {
  const rows = new Map<string, UsageRow>();
  let prompt = 0;
  let completion = 0;
  let unknown = 0;
  for (const [field, n] of fields) {
    const [kind, route, model] = field.split(SEP) as [UsageKind, string, string];
    const id = route + SEP + model;
    let row = rows.get(id);
    if (row === undefined) rows.set(id, (row = { route, model, promptTokens: 0, completionTokens: 0, unknownUsage: 0 }));
    if (kind === 'prompt') {
      row.promptTokens += n;
      prompt += n;
    } else if (kind === 'completion') {
      row.completionTokens += n;
      completion += n;
    } else {
      row.unknownUsage += n;
      unknown += n;
    }
  }
  const breakdown = [...rows.values()].sort((a, b) => (a.route + a.model < b.route + b.model ? -1 : 1));
  return { start, promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion, unknownUsage: unknown, breakdown };
}
