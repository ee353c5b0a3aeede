import cluster, { type Worker } from 'node:cluster';
import type { FastifyBaseLogger } from 'fastify';
import type { EjectionNotice } from '../health/shared-ejections.js';
import type { HealthVerdict } from '../health/shared-verdicts.js';
import { aggregateScrapes, type WorkerScrape } from '../metrics/aggregate-scrapes.js';
import { FixedWindows } from '../../../plugins/rate-limit/fixed-windows.js';
import { CounterStore } from '../../../plugins/rate-limit/counter-store.js';
import { UsageLedger } from '../../../plugins/token-meter/usage-ledger.js';
import { COUNT_ENV, SLOT_ENV, isSwitchboardMessage, type CountAnswer, type CountItem, type PrimaryMessage, type ReadyInfo, type WorkerMessage } from './messages.js';

export interface PrimaryOptions {
  /** The module each worker runs (main.js, which sees it is a worker). */
  exec: string;
  count: number;
  logger: FastifyBaseLogger;
  shutdownTimeoutMs: number;
}

/** How long the merge waits for each worker's part of a scrape; a worker busy past it is left out. */
const PART_TIMEOUT_MS = 3_000;
/** Restarts within this window count as a crash loop, and the next restart waits. */
const CRASH_WINDOW_MS = 60_000;

interface Slot {
  slot: number;
  worker: Worker | undefined;
  ready: ReadyInfo | undefined;
  exits: number[];
  restartTimer: NodeJS.Timeout | undefined;
}

/**
 * The primary of a WORKERS > 1 node (node:cluster): it holds no gateway. It forks one worker
 * per slot, replaces a worker that dies (its in-flight requests are all that is lost: the
 * listening socket stays in the primary, so the other workers keep accepting), relays worker
 * 1's health verdicts to the rest and any worker's passive ejections to the others, merges the
 * workers' metrics for worker 1's /metrics, keeps the node's request-limit, quota and
 * token-budget counts and its token usage for every worker (so N workers admit a limit once, not
 * N times; with REDIS_URL only while Redis is out), and on SIGTERM has every worker drain and
 * waits for them. Counts live as long as the primary: a replaced worker keeps its node's windows.
 */
export class ClusterPrimary {
  private readonly slots: Slot[] = [];
  private readonly verdicts = new Map<string, HealthVerdict>();
  /** The latest passive ejection per target, for a worker that starts while it is still in force. */
  private readonly ejections = new Map<string, EjectionNotice>();
  private readonly counters = new FixedWindows();
  /** Every worker's token usage (sent as each answer ends), for worker 1's usage endpoint. */
  private readonly usage: UsageLedger;
  private readonly scrapes = new Map<number, { parts: WorkerScrape[]; expected: number; done: () => void }>();
  private nextScrape = 1;
  private stopping = false;
  private restarts = 0;
  private started = false;
  private exited: (() => void) | undefined;

  constructor(private readonly options: PrimaryOptions) {
    this.usage = new UsageLedger(new CounterStore({ redisUrl: undefined, logger: options.logger, metrics: () => undefined }));
    // Round-robin in the primary (Linux' default, made explicit): the kernel's own accept()
    // balancing across processes is known to favour a few of them. Its one cost: a connection
    // being handed to a worker at the instant it dies is stranded (the hand-off waits for a reply
    // that never comes). NODE_CLUSTER_SCHED_POLICY=none, Node's own switch, trades that for the
    // kernel's uneven balance.
    if (!process.env.NODE_CLUSTER_SCHED_POLICY) cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.setupPrimary({ exec: options.exec });
    for (let slot = 1; slot <= options.count; slot++) this.slots.push({ slot, worker: undefined, ready: undefined, exits: [], restartTimer: undefined });
  }

  /** Fork every worker; resolves with their ready reports, or rejects if one exits before it serves. */
  start(): Promise<ReadyInfo[]> {
    return new Promise<ReadyInfo[]>((resolve, reject) => {
      const check = () => {
        if (this.slots.every((s) => s.ready)) {
          this.started = true;
          resolve(this.slots.map((s) => s.ready!));
        }
      };
      this.onStartFailure = (slot, why) => {
        this.stopping = true;
        for (const s of this.slots) s.worker?.process.kill('SIGKILL');
        reject(new Error(`worker ${slot} ${why} before it served`));
      };
      this.onReady = check;
      for (const s of this.slots) this.fork(s);
    });
  }

  private onStartFailure: ((slot: number, why: string) => void) | undefined;
  private onReady: (() => void) | undefined;

  /** Live worker pids by slot (for the start-up lines and tests). */
  get pids(): number[] {
    return this.slots.map((s) => s.ready?.pid ?? 0);
  }

  /** SIGTERM: every worker drains (node/drain.ts) and exits; resolves when all have. */
  stop(signal: NodeJS.Signals): Promise<void> {
    this.stopping = true;
    for (const s of this.slots) clearTimeout(s.restartTimer);
    const live = () => this.slots.filter((s) => s.worker && s.worker.process.exitCode === null && s.worker.process.signalCode === null);
    return new Promise<void>((resolve) => {
      if (live().length === 0) return resolve();
      this.exited = () => {
        if (live().length === 0) resolve();
      };
      for (const s of live()) s.worker!.process.kill(signal);
      // A worker that outlives its own timeout is stuck: end it rather than hang the node's exit.
      const force = setTimeout(() => {
        for (const s of live()) {
          this.options.logger.error({ worker: s.slot, workerPid: s.worker!.process.pid }, 'worker did not exit after its shutdown timeout; killing it');
          s.worker!.process.kill('SIGKILL');
        }
      }, this.options.shutdownTimeoutMs + 15_000);
      force.unref();
    });
  }

  private fork(s: Slot): void {
    s.ready = undefined;
    const worker = cluster.fork({ [SLOT_ENV]: String(s.slot), [COUNT_ENV]: String(this.options.count) });
    s.worker = worker;
    worker.on('message', (message: unknown) => {
      if (isSwitchboardMessage(message)) this.receive(s, worker, message as WorkerMessage);
    });
    worker.on('exit', (code, signal) => this.exit(s, worker, code, signal));
  }

  private receive(s: Slot, worker: Worker, message: WorkerMessage): void {
    switch (message.sb) {
      case 'hello':
        // A new or replacing worker starts from the prober's latest verdicts, not from "all healthy".
        if (s.slot !== 1) for (const verdict of this.verdicts.values()) this.send(worker, { sb: 'verdict', verdict });
        // And from the node's passive ejections still in force, worker 1 included.
        for (const [url, notice] of this.ejections) {
          if (notice.ejectedUntil > Date.now()) this.send(worker, { sb: 'ejection', notice });
          else this.ejections.delete(url);
        }
        return;
      case 'ready':
        s.ready = message.info;
        if (this.started) this.options.logger.warn({ worker: s.slot, workerPid: message.info.pid }, 'replacement worker serving');
        this.onReady?.();
        return;
      case 'verdict':
        this.verdicts.set(message.verdict.url, message.verdict);
        for (const other of this.slots) if (other !== s && other.worker) this.send(other.worker, message);
        return;
      case 'ejection':
        this.ejections.set(message.notice.url, message.notice);
        for (const other of this.slots) if (other !== s && other.worker) this.send(other.worker, message);
        return;
      case 'counts': {
        const answers = this.count(message.items);
        if (answers.length > 0) this.send(worker, { sb: 'counted', answers });
        return;
      }
      case 'usage-query': {
        const { consumerId, fromMs, toMs, granularity } = message.query;
        void this.usage.query(consumerId, fromMs, toMs, granularity).then((series) => this.send(worker, { sb: 'usage', id: message.id, series }));
        return;
      }
      case 'scrape':
        void this.collect().then((text) => this.send(worker, { sb: 'scrape-result', id: message.id, text }));
        return;
      case 'scrape-reply': {
        const pending = this.scrapes.get(message.id);
        if (!pending) return;
        pending.parts.push({ worker: s.slot, text: message.text });
        if (pending.parts.length === pending.expected) pending.done();
        return;
      }
    }
  }

  /** One loop turn's counts from one worker, in the order it asked; usage records have no answer. */
  private count(items: readonly CountItem[]): CountAnswer[] {
    const answers: CountAnswer[] = [];
    for (const item of items) {
      switch (item.op) {
        case 'window':
          answers.push({ id: item.id, ...this.counters.hit(item.key, item.windowMs) });
          break;
        case 'quota':
          answers.push({ id: item.id, current: this.counters.quota(item.key, item.resetAtMs), ttl: 0 });
          break;
        case 'add':
          answers.push({ id: item.id, counts: item.counters.map((c) => this.counters.add(c.key, item.amount, c.resetAtMs)) });
          break;
        case 'usage': {
          const { consumerId, route, model, counts, atMs } = item.record;
          this.usage.record(consumerId, route, model, counts, atMs);
          break;
        }
      }
    }
    return answers;
  }

  /** Every serving worker's metrics, merged, then the primary's own. */
  private collect(): Promise<string> {
    const id = this.nextScrape++;
    const serving = this.slots.filter((s) => s.ready && s.worker?.isConnected());
    const parts: WorkerScrape[] = [];
    return new Promise<string>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.scrapes.delete(id);
        parts.sort((a, b) => a.worker - b.worker);
        resolve(aggregateScrapes(parts) + this.ownMetrics());
      };
      const timer = setTimeout(done, PART_TIMEOUT_MS);
      this.scrapes.set(id, { parts, expected: serving.length, done });
      for (const s of serving) this.send(s.worker!, { sb: 'scrape-request', id });
      if (serving.length === 0) done();
    });
  }

  private ownMetrics(): string {
    const serving = this.slots.filter((s) => s.ready).length;
    return (
      `# HELP switchboard_workers Gateway worker processes serving on this node (WORKERS).\n# TYPE switchboard_workers gauge\nswitchboard_workers ${serving}\n` +
      `# HELP switchboard_worker_restarts_total Worker processes that died and were replaced.\n# TYPE switchboard_worker_restarts_total counter\nswitchboard_worker_restarts_total ${this.restarts}\n`
    );
  }

  private exit(s: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (s.worker !== worker) return;
    const wasReady = s.ready !== undefined;
    s.ready = undefined;
    this.exited?.();
    if (this.stopping) return;
    if (!this.started && !wasReady) {
      this.onStartFailure?.(s.slot, signal ? `was killed by ${signal}` : `exited with code ${code}`);
      return;
    }
    const now = Date.now();
    s.exits = [...s.exits.filter((at) => now - at < CRASH_WINDOW_MS), now];
    // Immediate for a one-off death; a crash loop backs off (1 s, 2 s, … 30 s) instead of spinning.
    const delay = s.exits.length <= 3 ? 0 : Math.min(30_000, 1000 * 2 ** (s.exits.length - 4));
    this.options.logger.error({ worker: s.slot, workerPid: worker.process.pid, code, signal, restartInMs: delay }, 'worker died; starting a replacement');
    this.restarts++;
    s.restartTimer = setTimeout(() => this.fork(s), delay);
  }

  private send(worker: Worker, message: PrimaryMessage): void {
    if (worker.isConnected()) worker.send(message, undefined, () => {});
  }
}
