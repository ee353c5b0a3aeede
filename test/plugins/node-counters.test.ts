import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeCounters, UsageQuery, UsageRecord, WindowCount } from '../../gateway/src/contracts/node-counters.js';
import { createLogger } from '../../gateway/src/logger.js';
import { FixedWindows } from '../../plugins/rate-limit/fixed-windows.js';
import { CounterStore } from '../../plugins/rate-limit/counter-store.js';
import { TokenBudgets, type Budget } from '../../plugins/token-meter/token-budget.js';
import { UsageLedger } from '../../plugins/token-meter/usage-ledger.js';

const incr = (store: CounterStore, key: string, windowMs: number) =>
  new Promise<WindowCount>((resolve, reject) => store.incr(key, (err, r) => (err ? reject(err) : resolve(r)), windowMs));

/** A primary in the same process: one FixedWindows behind the NodeCounters port, or one that fails. */
function primary(fail = () => false): NodeCounters & { asked: number } {
  const windows = new FixedWindows();
  const ledger = new UsageLedger(new CounterStore({ redisUrl: undefined, logger: createLogger('silent'), metrics: () => undefined }));
  const node = {
    asked: 0,
    window: async (key: string, windowMs: number) => {
      node.asked++;
      if (fail()) throw new Error('the primary did not count within 250 ms');
      return windows.hit(key, windowMs);
    },
    quota: async (key: string, resetAtMs: number) => {
      node.asked++;
      if (fail()) throw new Error('the primary is gone');
      return windows.quota(key, resetAtMs);
    },
    add: async (counters: ReadonlyArray<{ key: string; resetAtMs: number }>, amount: number) => {
      node.asked++;
      if (fail()) throw new Error('the primary is gone');
      return counters.map((c) => windows.add(c.key, amount, c.resetAtMs));
    },
    recordUsage: (r: UsageRecord) => {
      if (!fail()) ledger.record(r.consumerId, r.route, r.model, r.counts, r.atMs);
    },
    queryUsage: async (q: UsageQuery) => {
      if (fail()) throw new Error('the primary is gone');
      return ledger.query(q.consumerId, q.fromMs, q.toMs, q.granularity);
    },
  };
  return node;
}

const store = (nodeCounters: NodeCounters | undefined) => new CounterStore({ redisUrl: undefined, logger: createLogger('silent'), metrics: () => undefined, nodeCounters });

test('two workers\' counter stores on one node\'s counters count one window between them', async () => {
  const node = primary();
  const [a, b] = [store(node), store(node)];
  const counts = [];
  for (let i = 0; i < 6; i++) counts.push((await incr(i % 2 ? b : a, 'route:limited:ip:127.0.0.1', 60_000)).current);
  assert.deepEqual(counts, [1, 2, 3, 4, 5, 6]);
  assert.equal(node.asked, 6);
  const quotas = [await a.quota('consumer:acme:quota', Date.now() + 60_000), await b.quota('consumer:acme:quota', Date.now() + 60_000)];
  assert.deepEqual(quotas, [1, 2]);
  await Promise.all([a.close(), b.close()]);
});

test('when the primary does not answer, a worker counts alone, going on from the node\'s last count', async () => {
  let down = false;
  const node = primary(() => down);
  const worker = store(node);
  for (let i = 0; i < 3; i++) await incr(worker, 'k', 60_000);
  down = true;
  assert.equal((await incr(worker, 'k', 60_000)).current, 4, 'the node said 3; the worker goes on from it');
  assert.equal(await worker.quota('q', Date.now() + 60_000), 1, 'a quota counted locally while the primary is away');
  down = false;
  assert.equal((await incr(worker, 'k', 60_000)).current, 4, 'back with the primary: its count (the local one is not copied in)');
  await worker.close();
});

test('without node counters (one process) nothing is asked and the window counts in memory', async () => {
  const worker = store(undefined);
  assert.deepEqual([(await incr(worker, 'k', 50)).current, (await incr(worker, 'k', 50)).current], [1, 2]);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal((await incr(worker, 'k', 50)).current, 1, 'a new window after the old one reset');
  await worker.close();
});

test('token budgets of two workers on one node\'s counters: one worker\'s charge is the other\'s spend; a read starts no window', async () => {
  const node = primary();
  const [a, b] = [store(node), store(node)];
  const [budgetsA, budgetsB] = [new TokenBudgets(a), new TokenBudgets(b)];
  const resetAtMs = Date.now() + 60_000;
  const budgets: Budget[] = [
    { key: '{tok:c:acme}:route', max: 100, resetAtMs, what: 'token limit of 100 per 60 s', quota: false },
    { key: '{tok:c:acme}:day', max: 1000, resetAtMs, what: 'daily token quota of 1000', quota: true },
  ];
  assert.deepEqual(await budgetsB.used(budgets), [0, 0]);
  assert.deepEqual(await budgetsA.charge(budgets, 40), [40, 40]);
  assert.deepEqual(await budgetsB.charge(budgets, 25), [65, 65]);
  assert.deepEqual(await budgetsA.used(budgets), [65, 65], 'worker A sees worker B\'s charge');
  budgetsA.close();
  budgetsB.close();
  await Promise.all([a.close(), b.close()]);
});

test('FixedWindows.add: a read of an unknown or ended counter is 0 and starts nothing; a charge starts the period', () => {
  const w = new FixedWindows();
  const now = 1_000_000;
  assert.equal(w.add('k', 0, now + 10, now), 0);
  assert.equal(w.add('k', 5, now + 10, now), 5);
  assert.equal(w.add('k', 0, now + 10, now + 5), 5);
  assert.equal(w.add('k', 0, now + 30, now + 10), 0, 'the period ended at now + 10');
  assert.equal(w.add('k', 2, now + 30, now + 10), 2);
  w.close();
});

test('the usage ledger of a node of workers: each worker\'s answers go to the primary, and a query on any worker reports the node\'s sum; with the primary away, its own', async () => {
  let down = false;
  const node = primary(() => down);
  const [a, b] = [store(node), store(node)];
  const [ledgerA, ledgerB] = [new UsageLedger(a), new UsageLedger(b)];
  const at = Date.UTC(2026, 11, 2, 10, 30);
  ledgerA.record('acme', 'chat', 'sim', { prompt: 4, completion: 6 }, at);
  ledgerB.record('acme', 'chat', 'sim', { prompt: 4, completion: 6 }, at);
  ledgerB.record('acme', 'chat', 'sim', { unknown: 1 }, at);
  const whole = await ledgerA.query('acme', at - 3_600_000, at + 3_600_000, 'hour');
  assert.deepEqual([whole.totals.promptTokens, whole.totals.completionTokens, whole.totals.unknownUsage], [8, 12, 1], 'worker A reports B\'s answers too');
  assert.equal(whole.source, 'node');
  down = true;
  const own = await ledgerA.query('acme', at - 3_600_000, at + 3_600_000, 'hour');
  assert.deepEqual([own.totals.promptTokens, own.totals.completionTokens], [4, 6], 'the primary away: worker A\'s own share');
  ledgerA.close();
  ledgerB.close();
  await Promise.all([a.close(), b.close()]);
});
