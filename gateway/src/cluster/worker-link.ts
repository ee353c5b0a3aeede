import type { NodeCounters, UsageQuery, UsageRecord, WindowCount } from '../contracts/node-counters.js';
import type { EjectionNotice } from '../health/shared-ejections.js';
import type { HealthVerdict } from '../health/shared-verdicts.js';
import { COUNT_ENV, SLOT_ENV, isSwitchboardMessage, type CountAnswer, type CountItem, type PrimaryMessage, type ReadyInfo, type WorkerMessage } from './messages.js';

/** How long worker 1 waits for the node-wide scrape before it answers with its own part only. */
const SCRAPE_TIMEOUT_MS = 5_000;
/** A count the primary has not answered by then is made in the worker's memory (the counter store's Redis timeout too). */
const COUNT_TIMEOUT_MS = 250;
/** A usage query may sum many buckets; it is an admin request, not a partner's, so it may wait longer. */
const USAGE_TIMEOUT_MS = 2_000;

/** A count item before the id it gets when it is queued. */
type Unnumbered<T> = T extends { id: number } ? Omit<T, 'id'> : never;

/**
 * A worker's side of the cluster IPC. Worker 1 holds the admin listener and the one prober;
 * every worker answers the primary's scrape requests, applies the prober's health verdicts,
 * shares its passive ejections with the others, and counts request limits, quotas, token budgets
 * and token usage in the primary, so the node admits each limit once and reports its whole usage.
 */
export class WorkerLink implements NodeCounters {
  readonly slot: number;
  readonly count: number;
  /** Verdicts heard so far (the primary replays its latest ones on `hello`), for a follower created later. */
  readonly verdicts = new Map<string, HealthVerdict>();
  private onVerdict: ((verdict: HealthVerdict) => void) | undefined;
  /** Other workers' ejections heard before the gateway follows them (the primary replays those in force on `hello`). */
  private readonly ejections: EjectionNotice[] = [];
  private onEjection: ((notice: EjectionNotice) => void) | undefined;
  private scrapeOwn: (() => Promise<string>) | undefined;
  private readonly waiting = new Map<number, (text: string) => void>();
  private readonly counting = new Map<number, { resolve: (answer: unknown) => void; timer: NodeJS.Timeout }>();
  /** Counts asked for in this loop turn, sent together at its end (one IPC message, not one each). */
  private batch: CountItem[] = [];
  private flushing = false;
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

  followEjections(apply: (notice: EjectionNotice) => void): void {
    this.onEjection = apply;
    for (const notice of this.ejections.splice(0)) apply(notice);
  }

  publishEjection(notice: EjectionNotice): void {
    this.send({ sb: 'ejection', notice });
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
    return this.countInPrimary<{ current: number; ttl: number }>({ op: 'window', key, windowMs }).then((r) => ({ current: r.current, ttl: r.ttl }));
  }

  quota(key: string, resetAtMs: number): Promise<number> {
    return this.countInPrimary<{ current: number }>({ op: 'quota', key, resetAtMs }).then((r) => r.current);
  }

  add(counters: ReadonlyArray<{ key: string; resetAtMs: number }>, amount: number): Promise<number[]> {
    return this.countInPrimary<{ counts: number[] }>({ op: 'add', counters: counters.map(({ key, resetAtMs }) => ({ key, resetAtMs })), amount }).then((r) => r.counts);
  }

  recordUsage(record: UsageRecord): void {
    if (process.connected) this.queue({ op: 'usage', record });
  }

  queryUsage(query: UsageQuery): Promise<unknown> {
    return this.ask<{ series: unknown }>((id) => this.send({ sb: 'usage-query', id, query }), USAGE_TIMEOUT_MS).then((r) => r.series);
  }

  private countInPrimary<A>(item: Unnumbered<Exclude<CountItem, { op: 'usage' }>>): Promise<A> {
    return this.ask<A>((id) => this.queue({ ...item, id } as CountItem), COUNT_TIMEOUT_MS);
  }

  /** Send with a fresh id (`dispatch`), resolve with the primary's answer to it, reject after `timeoutMs`. */
  private ask<A>(dispatch: (id: number) => void, timeoutMs: number): Promise<A> {
    if (!process.connected) return Promise.reject(new Error('the primary is gone'));
    const id = this.nextId++;
    return new Promise<A>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.counting.delete(id);
        reject(new Error(`the primary did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.counting.set(id, { resolve: resolve as (answer: unknown) => void, timer });
      dispatch(id);
    });
  }

  /**
   * Counts wait for the end of the loop turn (setImmediate): every request that reached its limit
   * check in the turn shares one message, so a busy worker pays one IPC message per turn. An
   * idle one sends at once, the turn being short.
   */
  private queue(item: CountItem): void {
    this.batch.push(item);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      const items = this.batch;
      this.batch = [];
      this.send({ sb: 'counts', items });
    });
  }

  private answered(id: number, answer: unknown): void {
    const pending = this.counting.get(id);
    if (!pending) return;
    this.counting.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(answer);
  }

  private receive(message: PrimaryMessage): void {
    switch (message.sb) {
      case 'verdict':
        this.verdicts.set(message.verdict.url, message.verdict);
        this.onVerdict?.(message.verdict);
        return;
      case 'ejection':
        if (this.onEjection) this.onEjection(message.notice);
        else this.ejections.push(message.notice);
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
        for (const answer of message.answers) this.answered(answer.id, answer);
        return;
      case 'usage':
        this.answered(message.id, message);
        return;
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
