import type { Redis } from 'ioredis';
import { LATE_GUARD, type CounterStore } from '../rate-limit/counter-store.js';
import { FixedWindows } from '../rate-limit/fixed-windows.js';

/**
 * Token budgets: how many tokens a key (a consumer, or a consumer on one route) has spent in its
 * current window or quota period. Tokens are known only once an answer's usage is read, so a
 * request is admitted while its budgets have tokens left and charged when it completes ("admit
 * while budget > 0", as LiteLLM's and Kong's token limits do): the requests in flight when a
 * budget runs out may overshoot it by their own size, the next one is refused.
 *
 * With REDIS_URL every node reads and charges one count in Redis through the rate-limit store's
 * breaker (same 250 ms timeout, same local fallback and late-command guard). A request's keys all
 * carry one hash tag (`{tok:c:<consumer>}`), so one script reads or charges them all atomically
 * on one Redis Cluster slot. Without Redis (or while it is out) a node of several workers counts
 * in its primary, like request limits (NodeCounters), so its workers share one budget.
 */
export interface Budget {
  /** Counter key; the same on every node for the same window. */
  readonly key: string;
  readonly max: number;
  /** epoch ms at which this window or period ends. */
  readonly resetAtMs: number;
  /** For the 429's detail: "token limit of 1000 per 60 s", "daily token quota of 50000". */
  readonly what: string;
  /** A calendar quota (refused as quota-exceeded) rather than a window limit (rate-limited). */
  readonly quota: boolean;
}

/** One script for both jobs: ARGV[2] = tokens to add (0 = read); ARGV[3..] = each key's reset (epoch ms). */
const BUDGET_LUA = `${LATE_GUARD}
local charge = tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  if charge > 0 then
    out[i] = redis.call('INCRBY', key, charge)
    if redis.call('PTTL', key) < 0 then redis.call('PEXPIREAT', key, ARGV[i + 2]) end
  else
    out[i] = tonumber(redis.call('GET', key) or '0')
  end
end
return {0, out}`;

type BudgetRedis = Redis & { sbTokenBudget(numKeys: number, ...args: Array<string | number>): Promise<[number, number[]]> };

export class TokenBudgets {
  private readonly local = new FixedWindows();
  private readonly defined = new WeakSet<Redis>();

  constructor(private readonly store: CounterStore) {}

  /** Tokens spent so far in each budget's window, in order. */
  used(budgets: readonly Budget[]): Promise<number[]> | number[] {
    return this.run(budgets, 0);
  }

  /** Add a completed answer's tokens to every budget; resolves to the new totals. */
  charge(budgets: readonly Budget[], tokens: number): Promise<number[]> | number[] {
    return this.run(budgets, tokens);
  }

  private run(budgets: readonly Budget[], charge: number): Promise<number[]> | number[] {
    return this.store.through(
      async (redis, deadlineMs) => {
        const r = this.scripted(redis);
        const [late, counts] = await r.sbTokenBudget(budgets.length, ...budgets.map((b) => b.key), deadlineMs, charge, ...budgets.map((b) => b.resetAtMs));
        if (late < 0) return undefined;
        const out = counts.map(Number);
        // Remember Redis' counts: if it goes away, local counting starts from them, not from zero.
        budgets.forEach((b, i) => this.local.set(b.key, out[i]!, b.resetAtMs));
        return out;
      },
      () => this.runLocal(budgets, charge),
    );
  }

  /** Not in Redis: in the node's primary when there is one (several workers), else here. */
  private runLocal(budgets: readonly Budget[], charge: number): Promise<number[]> | number[] {
    const here = () => budgets.map((b) => this.local.add(b.key, charge, b.resetAtMs));
    const node = this.store.nodeCounters;
    if (node === undefined) return here();
    return node.add(budgets, charge).then((counts) => {
      budgets.forEach((b, i) => this.local.set(b.key, counts[i]!, b.resetAtMs));
      return counts;
    }, here);
  }

  private scripted(redis: Redis): BudgetRedis {
    if (!this.defined.has(redis)) {
      redis.defineCommand('sbTokenBudget', { lua: BUDGET_LUA });
      this.defined.add(redis);
    }
    return redis as BudgetRedis;
  }

  close(): void {
    this.local.close();
  }
}
