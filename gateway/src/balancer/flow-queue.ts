import type { UpstreamQueue } from '../../../spec/upstream.js';

/**
 * Flow control for one upstream pool: requests that find every eligible target at its
 * `maxConnections` wait here — in the gateway, before a target is picked, holding no socket to a
 * worker — and are released one per freed slot.
 *
 * Order of release, per priority class (consumer `priority`, higher first, strict):
 * Start-time Fair Queuing (P. Goyal, H. Vin, H. Cheng, "Start-time Fair Queuing: A Scheduling
 * Algorithm for Integrated Services Packet Switching Networks", SIGCOMM 1996). Each consumer is
 * a flow; a request arriving for flow f gets the start tag S = max(V, F_f) and the finish tag
 * F_f = S + 1 / weight_f, where V is the start tag of the request released last in its class.
 * The waiter with the smallest start tag goes first (arrival order breaks ties). Every request
 * costs one slot, so weights share the releases in proportion while all flows are backlogged,
 * a flow that was idle is not owed its idle time (V has moved on), and a burst by one consumer
 * pushes only that consumer's own tags ahead. One binary heap orders (priority, start, arrival);
 * another orders the reverse, for the full-queue rule below; both are O(log n) per operation.
 *
 * A full queue refuses the request that would be served LAST: if the newcomer sorts before the
 * last waiter (a higher priority, or an earlier start tag — a light consumer among heavy ones),
 * that waiter is displaced and refused instead (the longest-queue drop of fair queueing, Demers,
 * Keshav and Shenker 1989); otherwise the newcomer is refused. So a consumer at 3× capacity fills
 * the queue with its own far-future tags and loses them, not a light consumer's place.
 */

/** One request waiting for a slot. */
export interface QueueWaiter {
  /** The flow: the consumer's name ('' for requests without one). */
  readonly flow: string;
  readonly weight: number;
  readonly priority: number;
  /** A slot is free: pick a target now. */
  release(): void;
  /** The request will not be served from the queue; answer 503. */
  refuse(reason: QueueRefusal): void;
}

export type QueueRefusal = 'full' | 'timeout' | 'closed';

/** Counters per consumer of one pool's queue, read at scrape time (metrics, admin API). */
export interface FlowStats {
  waiting: number;
  released: number;
  refusedFull: number;
  refusedTimeout: number;
  cancelled: number;
  /** Sum of the waits that ended (released, refused or cancelled), in seconds. */
  waitSeconds: number;
}

class Entry {
  minPos = -1;
  maxPos = -1;
  timer: NodeJS.Timeout | undefined;
  constructor(
    readonly waiter: QueueWaiter,
    readonly priority: number,
    readonly start: number,
    readonly seq: number,
    readonly enqueuedAt: number,
  ) {}
}

/** Sorts first = released first. */
function before(a: Entry, b: Entry): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.start !== b.start) return a.start < b.start;
  return a.seq < b.seq;
}

/** A binary heap that knows each entry's position, so any entry can leave in O(log n). */
class IndexedHeap {
  readonly items: Entry[] = [];
  constructor(
    private readonly first: (a: Entry, b: Entry) => boolean,
    private readonly pos: 'minPos' | 'maxPos',
  ) {}

  get size(): number {
    return this.items.length;
  }

  peek(): Entry | undefined {
    return this.items[0];
  }

  push(e: Entry): void {
    this.items.push(e);
    e[this.pos] = this.items.length - 1;
    this.up(this.items.length - 1);
  }

  remove(e: Entry): void {
    const i = e[this.pos];
    if (i < 0) return;
    const last = this.items.pop()!;
    e[this.pos] = -1;
    if (last === e) return;
    this.items[i] = last;
    last[this.pos] = i;
    this.up(i);
    this.down(last[this.pos]);
  }

  private up(i: number): void {
    const items = this.items;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.first(items[i]!, items[parent]!)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const items = this.items;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < items.length && this.first(items[l]!, items[best]!)) best = l;
      if (r < items.length && this.first(items[r]!, items[best]!)) best = r;
      if (best === i) return;
      this.swap(i, best);
      i = best;
    }
  }

  private swap(i: number, j: number): void {
    const a = this.items[i]!;
    const b = this.items[j]!;
    this.items[i] = b;
    this.items[j] = a;
    a[this.pos] = j;
    b[this.pos] = i;
  }
}

/** Handed back by enqueue(); the way out for a request that stops waiting on its own (client gone). */
export interface QueueTicket {
  cancel(): void;
}

export class FlowQueue {
  readonly maxSize: number;
  readonly timeoutMs: number;
  private readonly next = new IndexedHeap(before, 'minPos');
  private readonly last = new IndexedHeap((a, b) => before(b, a), 'maxPos');
  /** Virtual time V per priority class. */
  private readonly virtualTime = new Map<number, number>();
  /** Finish tag F_f of each flow's latest request, per class; forgotten once V passes it. */
  private readonly finishTags = new Map<string, number>();
  private readonly stats = new Map<string, FlowStats>();
  private seq = 0;

  constructor(spec: UpstreamQueue) {
    this.maxSize = spec.maxSize ?? 1000;
    this.timeoutMs = spec.timeoutMs ?? 30_000;
  }

  /** Requests waiting now. */
  get size(): number {
    return this.next.size;
  }

  /**
   * Let `waiter` wait for a slot. It is either released, refused ('timeout', or 'full' when a
   * request that sorts before it arrives at a full queue), or cancelled through the ticket;
   * exactly one of the three. Returns undefined when it is refused at once (the queue is full of
   * requests that sort before it); `refuse` is not called then.
   */
  enqueue(waiter: QueueWaiter): QueueTicket | undefined {
    const priority = waiter.priority;
    const v = this.virtualTime.get(priority) ?? 0;
    const flowKey = priority + '\u0000' + waiter.flow;
    const finish = this.finishTags.get(flowKey) ?? 0;
    const start = finish > v ? finish : v;
    const entry = new Entry(waiter, priority, start, this.seq++, performance.now());
    const flow = this.flowStats(waiter.flow);
    if (this.next.size >= this.maxSize) {
      const worst = this.last.peek()!;
      if (!before(entry, worst)) {
        flow.refusedFull++;
        return undefined;
      }
      this.leave(worst, 'full');
      worst.waiter.refuse('full');
    }
    this.finishTags.set(flowKey, start + 1 / Math.max(1, waiter.weight));
    this.next.push(entry);
    this.last.push(entry);
    flow.waiting++;
    entry.timer = setTimeout(() => {
      if (entry.minPos < 0) return;
      this.leave(entry, 'timeout');
      waiter.refuse('timeout');
    }, this.timeoutMs);
    return { cancel: () => this.leave(entry, 'cancelled') };
  }

  /** Release the waiter that goes first, if any; true when one was released. */
  releaseNext(): boolean {
    const entry = this.next.peek();
    if (entry === undefined) return false;
    this.virtualTime.set(entry.priority, entry.start);
    this.leave(entry, 'released');
    this.forgetIdleFlows();
    entry.waiter.release();
    return true;
  }

  /** Per-consumer counters, by consumer name ('' = no consumer). */
  flows(): ReadonlyMap<string, Readonly<FlowStats>> {
    return this.stats;
  }

  /** How long the request waiting longest has waited, in ms (0 when none waits). */
  oldestWaitMs(): number {
    let oldest = Infinity;
    for (const e of this.next.items) if (e.enqueuedAt < oldest) oldest = e.enqueuedAt;
    return oldest === Infinity ? 0 : performance.now() - oldest;
  }

  /** Refuse every waiter (the pool is closing for good). */
  close(): void {
    for (const e of [...this.next.items]) {
      this.leave(e, 'timeout');
      e.waiter.refuse('closed');
    }
  }

  private leave(entry: Entry, why: 'released' | 'full' | 'timeout' | 'cancelled'): void {
    if (entry.minPos < 0) return;
    this.next.remove(entry);
    this.last.remove(entry);
    clearTimeout(entry.timer);
    const flow = this.flowStats(entry.waiter.flow);
    flow.waiting--;
    flow.waitSeconds += (performance.now() - entry.enqueuedAt) / 1000;
    if (why === 'released') flow.released++;
    else if (why === 'full') flow.refusedFull++;
    else if (why === 'timeout') flow.refusedTimeout++;
    else flow.cancelled++;
  }

  /**
   * A finish tag at or behind its class's V no longer changes any start tag (max(V, F) = V), so
   * it is dropped: the map holds only flows with a claim ahead of V, not every consumer ever seen.
   */
  private forgetIdleFlows(): void {
    if (this.finishTags.size < 64) return;
    for (const [key, finish] of this.finishTags) {
      const priority = Number(key.slice(0, key.indexOf('\u0000')));
      if (finish <= (this.virtualTime.get(priority) ?? 0)) this.finishTags.delete(key);
    }
  }

  private flowStats(flow: string): FlowStats {
    let s = this.stats.get(flow);
    if (s === undefined) this.stats.set(flow, (s = { waiting: 0, released: 0, refusedFull: 0, refusedTimeout: 0, cancelled: 0, waitSeconds: 0 }));
    return s;
  }
}
