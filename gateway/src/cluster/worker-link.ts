import type { NodeCounters, UsageQuery, UsageRecord, WindowCount } from '../contracts/node-counters.js';
import type { HealthVerdict } from '../health/shared-verdicts.js';
import { COUNT_ENV, SLOT_ENV, isSwitchboardMessage, type PrimaryMessage, type ReadyInfo, type WorkerMessage } from './messages.js';

/** How long worker 1 waits for the node-wide scrape before it answers with its own part only. */
const SCRAPE_TIMEOUT_MS = 5_000;
/** A count the primary has not answered by then is made in the worker's memory (the counter store's Redis timeout too). */
const COUNT_TIMEOUT_MS = 250;
/** A usage query may sum many buckets; it is an admin request, not a partner's, so it may wait longer. */
const USAGE_TIMEOUT_MS = 2_000;

type CountAnswer = Extract<PrimaryMessage, { sb: 'counted' | 'counted-many' | 'usage' }>;

/**
 * A worker's side of the cluster IPC. Worker 1 holds the admin listener and the one prober;
 * every worker answers the primary's scrape requests and applies the prober's health verdicts,
 * and counts request limits, quotas, token budgets and token usage in the primary, so the node
 * admits each limit once and reports its whole usage.
 */
export class WorkerLink implements NodeCounters {
  readonly slot: number;
  readonly count: number;
  /** Verdicts heard so far (the primary replays its latest ones on `hello`), for a follower created later. */
  readonly verdicts = new Map<string, HealthVerdict>();
  private onVerdict: ((verdict: HealthVerdict) => void) | undefined;
  private scrapeOwn: (() => Promise<string>) | undefined;
  private readonly waiting = new Map<number, (text: string) => void>();
  private readonly counting = new Map<number, { resolve: (answer: CountAnswer) => void; timer: NodeJS.Timeout }>();
  private nextId = 1;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.slot = Number(env[SLOT_ENV]);
    this.count = Number(env[COUNT_ENV]);
    process.on('message', (message: unknown) => {
      if (isSwitchboardMessage(message)) this.receive(message as PrimaryMessage);
    });
    this.send({ sb: 'hello' });
  }

  /** Worker 1: the admin listener and the active health probes live here. */
  get leader(): boolean {
    return this.slot === 1;
  }

  followVerdicts(apply: (verdict: HealthVerdict) => void): void {
    this.onVerdict = apply;
    for (const verdict of this.verdicts.values()) apply(verdict);
  }

  publishVerdict(verdict: HealthVerdict): void {
    this.send({ sb: 'verdict', verdict });
  }

  answerScrapes(scrape: () => Promise<string>): void {
    this.scrapeOwn = scrape;
  }

  ready(info: ReadyInfo): void {
    this.send({ sb: 'ready', info });
  }

  /** The whole node's metrics in one text (the primary merges every worker's; cluster/primary.ts). */
  scrapeNode(): Promise<string> {
    const id = this.nextId++;
    return new Promise<string>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        void (this.scrapeOwn?.() ?? Promise.resolve('')).then(resolve, () => resolve(''));
      }, SCRAPE_TIMEOUT_MS);
      this.waiting.set(id, (text) => {
        clearTimeout(timer);
        resolve(text);
      });
      this.send({ sb: 'scrape', id });
    });
  }

  window(key: string, windowMs: number): Promise<WindowCount> {
    return this.askPrimary<'counted'>((id) => ({ sb: 'count-window', id, key, windowMs })).then((r) => ({ current: r.current, ttl: r.ttl }));
  }

  quota(key: string, resetAtMs: number): Promise<number> {
    return this.askPrimary<'counted'>((id) => ({ sb: 'count-quota', id, key, resetAtMs })).then((r) => r.current);
  }

  add(counters: ReadonlyArray<{ key: string; resetAtMs: number }>, amount: number): Promise<number[]> {
    return this.askPrimary<'counted-many'>((id) => ({ sb: 'count-add', id, counters: counters.map(({ key, resetAtMs }) => ({ key, resetAtMs })), amount })).then(
      (r) => r.counts,
    );
  }

  recordUsage(record: UsageRecord): void {
    this.send({ sb: 'usage-record', record });
  }

  queryUsage(query: UsageQuery): Promise<unknown> {
    return this.askPrimary<'usage'>((id) => ({ sb: 'usage-query', id, query }), USAGE_TIMEOUT_MS).then((r) => r.series);
  }

  private askPrimary<K extends CountAnswer['sb']>(message: (id: number) => WorkerMessage, timeoutMs = COUNT_TIMEOUT_MS): Promise<Extract<CountAnswer, { sb: K }>> {
    if (!process.connected) return Promise.reject(new Error('the primary is gone'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.counting.delete(id);
        reject(new Error(`the primary did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.counting.set(id, { resolve: resolve as (answer: CountAnswer) => void, timer });
      this.send(message(id));
    });
  }

  private receive(message: PrimaryMessage): void {
    switch (message.sb) {
      case 'verdict':
        this.verdicts.set(message.verdict.url, message.verdict);
        this.onVerdict?.(message.verdict);
        return;
      case 'scrape-request': {
        const own = this.scrapeOwn?.() ?? Promise.resolve('');
        void own.then(
          (text) => this.send({ sb: 'scrape-reply', id: message.id, text }),
          () => this.send({ sb: 'scrape-reply', id: message.id, text: '' }),
        );
        return;
      }
      case 'counted':
      case 'counted-many':
      case 'usage': {
        const pending = this.counting.get(message.id);
        if (!pending) return;
        this.counting.delete(message.id);
        clearTimeout(pending.timer);
        pending.resolve(message);
        return;
      }
      case 'scrape-result': {
        const resolve = this.waiting.get(message.id);
        this.waiting.delete(message.id);
        resolve?.(message.text);
        return;
      }
    }
  }

  private send(message: WorkerMessage): void {
    // The channel is gone once the primary has exited; the worker then stops on 'disconnect'.
    if (process.connected) process.send?.(message, undefined, {}, () => {});
  }
}
