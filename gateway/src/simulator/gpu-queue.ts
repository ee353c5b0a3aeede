/**
 * The scheduling model of one simulated GPU: a fixed number of slots (sequences being computed
 * at once, like a model server's max batch) and a FIFO queue behind them. It knows nothing of
 * HTTP or time; a job is told when it holds a slot and gives it back through `release`.
 */

/** Called once the job holds a slot; it must call `release` exactly when its compute ends. */
export type StartJob = (release: () => void) => void;

/** A job admitted to the queue; `cancel` drops it while waiting or frees its slot while running. */
export interface QueueTicket {
  cancel(): void;
}

interface Entry {
  readonly start: StartJob;
  state: 'waiting' | 'running' | 'done';
}

export interface GpuQueueCounters {
  readonly running: number;
  readonly waiting: number;
  /** Deepest the queue has been since the worker started: the benchmark's sign of overload. */
  readonly peakWaiting: number;
  readonly admitted: number;
  readonly rejected: number;
}

export class GpuQueue {
  // A Set keeps insertion order, so it is a FIFO whose middle can be removed in O(1)
  // (a client giving up while queued).
  readonly #waiting = new Set<Entry>();
  readonly #running = new Set<Entry>();
  #slots: number;
  readonly #maxQueue: number;
  #peakWaiting = 0;
  #admitted = 0;
  #rejected = 0;
  #pumping = false;

  constructor(slots: number, maxQueue: number) {
    this.#slots = slots;
    this.#maxQueue = maxQueue;
  }

  get slots(): number {
    return this.#slots;
  }

  /** Growing starts queued jobs at once; shrinking lets running jobs finish and holds new ones. */
  set slots(value: number) {
    this.#slots = value;
    this.#pump();
  }

  get running(): number {
    return this.#running.size;
  }

  get waiting(): number {
    return this.#waiting.size;
  }

  counters(): GpuQueueCounters {
    return {
      running: this.#running.size,
      waiting: this.#waiting.size,
      peakWaiting: this.#peakWaiting,
      admitted: this.#admitted,
      rejected: this.#rejected,
    };
  }

  /**
   * Admits a job, or returns undefined when the queue is full (the caller answers 503).
   * A job that finds a free slot starts synchronously, inside this call.
   */
  submit(start: StartJob): QueueTicket | undefined {
    const mustWait = this.#running.size >= this.#slots || this.#waiting.size > 0;
    if (mustWait && this.#waiting.size >= this.#maxQueue) {
      this.#rejected += 1;
      return undefined;
    }
    this.#admitted += 1;
    const entry: Entry = { start, state: 'waiting' };
    this.#waiting.add(entry);
    this.#pump();
    this.#peakWaiting = Math.max(this.#peakWaiting, this.#waiting.size);
    return { cancel: () => this.#finish(entry) };
  }

  /** Forgets every job without calling anything: the process "died" with them. */
  clear(): void {
    for (const entry of this.#waiting) entry.state = 'done';
    for (const entry of this.#running) entry.state = 'done';
    this.#waiting.clear();
    this.#running.clear();
  }

  #finish(entry: Entry): void {
    if (entry.state === 'waiting') {
      this.#waiting.delete(entry);
    } else if (entry.state === 'running') {
      this.#running.delete(entry);
    }
    entry.state = 'done';
    this.#pump();
  }

  #pump(): void {
    // A job may release synchronously from `start`, which calls back into #pump; the outer
    // loop picks up whatever that frees instead of recursing.
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#running.size < this.#slots && this.#waiting.size > 0) {
        const entry = this.#waiting.values().next().value as Entry;
        this.#waiting.delete(entry);
        entry.state = 'running';
        this.#running.add(entry);
        entry.start(() => this.#finish(entry));
      }
    } finally {
      this.#pumping = false;
    }
  }
}
