import type { Dispatcher } from 'undici';
import type { Upstream } from '../../../spec/upstream.js';
import { FlowQueue } from './flow-queue.js';
import { pickerFor } from './index.js';
import { recordLatency } from './peak-ewma.js';
import type { PickContext, Picker, PoolMember } from './picker.js';
import type { TargetRegistry, TargetEntry, TlsIdentity } from './target-registry.js';
import { targetKey } from './target-state.js';

/** Why a pool could not offer a target. */
export type NoTarget = 'no-healthy-target' | 'all-saturated';

/** Outcome of one attempt, as the proxy reports it. */
export interface AttemptOutcome {
  latencyMs: number;
  /** HTTP status from upstream, or undefined when none arrived (connect error, timeout). */
  status: number | undefined;
  /** 'connect' = nothing reached the target; 'timeout'; 'reset' = the exchange broke midway. */
  error?: 'connect' | 'timeout' | 'reset' | undefined;
}

export interface Member extends PoolMember {
  readonly entry: TargetEntry;
  /** Where this pool's requests to the target go (its `protocol`'s connections). */
  readonly dispatcher: Dispatcher;
}

/** Slow-start weights move at most this often: smooth enough for a ramp, cheap on the hot path. */
const RAMP_STEP_MS = 100;
/** A recovering target starts at this share of its weight (Envoy's min_weight_percent default). */
const RAMP_FLOOR = 0.1;

/**
 * One configured upstream: its members, who of them is eligible now, and its picker.
 *
 * Eligibility is decided here, once, for every algorithm (APISIX/Envoy style): up (active and
 * passive health), not draining, primaries before backups, panic mode. The circuit breaker
 * (maxConnections) is checked at pick time because in-flight counts move with every request.
 *
 * Eligibility is cached: it is rebuilt only when a target emits 'change', when an ejection
 * lapses (`nextExpiry`) or when a slow-start ramp is due for its next step, so the common
 * pick is one comparison and the picker call.
 */
export class UpstreamPool {
  readonly name: string;
  readonly members: readonly Member[];
  private readonly picker: Picker;
  private eligible: Member[] = [];
  private stale = true;
  /** Earliest time an ejection lapses; eligibility is recomputed then. */
  private nextExpiry = Infinity;
  /** min(next ejection lapse, next slow-start step): the only clock check on the hot path. */
  private deadline = Infinity;
  private readonly hasBreakers: boolean;
  private readonly slowStartMs: number;
  /**
   * Draining set at runtime (admin API), by target key. Kept apart from the configured flag so
   * the registry can carry it into the pool that replaces this one on a reload.
   */
  readonly drainOverrides = new Map<string, boolean>();
  /** Flow control (`queue`): requests wait here while every eligible target is at its cap. */
  readonly queue: FlowQueue | undefined;
  private releasing = false;
  private readonly onTargetChange = () => {
    this.stale = true;
    // A target that came back (or stopped draining) may have room for the queue's waiters.
    if (this.queue !== undefined && this.queue.size > 0) queueMicrotask(() => this.releaseQueued());
  };

  constructor(
    readonly spec: Upstream,
    private readonly registry: TargetRegistry,
    /** The upstream's `tls` with its client certificate looked up (upstream-registry.ts); its active probes use it too. */
    readonly tls?: TlsIdentity,
  ) {
    this.name = spec.name;
    this.slowStartMs = spec.slowStartMs ?? 0;
    this.members = spec.targets.map((t, index) => {
      const entry = registry.acquire(t.url);
      entry.state.on('change', this.onTargetChange);
      return {
        entry,
        dispatcher: registry.dispatcherFor(entry, spec.protocol, tls),
        target: entry.state,
        index,
        weight: t.weight ?? 1,
        effectiveWeight: t.weight ?? 1,
        backup: t.backup ?? false,
        maxConnections: t.maxConnections ?? Infinity,
        draining: t.draining ?? false,
      };
    });
    this.hasBreakers = this.members.some((m) => m.maxConnections !== Infinity);
    this.picker = pickerFor(spec.algorithm ?? 'round-robin')({ members: this.members, upstream: spec });
    this.queue = spec.queue ? new FlowQueue(spec.queue) : undefined;
  }

  /**
   * Choose a member for one attempt, or say why none can be had. `tried` holds the members this
   * request's earlier attempts went to: a retry avoids all of them while another member is
   * eligible (APISIX and Kong keep the same per-request set), and only when every eligible one
   * was tried may it return to one of them.
   */
  pick(ctx: PickContext, tried?: readonly PoolMember[]): Member | NoTarget {
    if (this.stale) this.recompute(Date.now());
    else if (this.deadline !== Infinity) {
      const now = Date.now();
      if (now >= this.deadline) this.refresh(now);
    }
    let candidates = this.eligible;
    if (candidates.length === 0) return 'no-healthy-target';
    if (this.hasBreakers) {
      // Count first: the filtered copy is made only when a breaker is actually open.
      let open = 0;
      for (const m of candidates) if (m.target.inFlight < m.maxConnections) open++;
      if (open === 0) return 'all-saturated';
      if (open < candidates.length) candidates = candidates.filter((m) => m.target.inFlight < m.maxConnections);
    }
    if (tried !== undefined && tried.length > 0 && candidates.length > 1) {
      const untried = candidates.filter((m) => !tried.includes(m));
      if (untried.length > 0) candidates = untried;
    }
    return this.picker.pick(candidates, ctx) as Member;
  }

  /** An attempt to `member` starts. */
  begin(member: PoolMember): void {
    member.target.inFlight++;
    member.target.requests++;
  }

  /** An attempt to `member` ended; feeds latency-aware pickers. Passive health listens via `onOutcome`. */
  end(member: PoolMember, outcome: AttemptOutcome): void {
    member.target.inFlight--;
    const ok = outcome.error === undefined && (outcome.status === undefined || outcome.status < 500);
    if (!ok) member.target.failures++;
    recordLatency(member.target, outcome.latencyMs, ok, Date.now());
    this.picker.observe?.(member, outcome.latencyMs, ok);
    this.onOutcome?.(member, outcome);
    // The slot just freed goes to the queue first (pools without `queue` skip this test only).
    if (this.queue !== undefined && this.queue.size > 0) this.releaseQueued();
  }

  /**
   * Hand free slots to queued requests, one per slot, in the queue's fair order. A released
   * request picks its target at once (synchronously, so no newcomer takes the slot between).
   * A release can end another attempt synchronously and come back here: the outer loop then
   * carries on instead of recursing.
   */
  releaseQueued(): void {
    const queue = this.queue;
    if (queue === undefined || this.releasing) return;
    this.releasing = true;
    try {
      while (queue.size > 0 && this.hasFreeSlot()) queue.releaseNext();
    } finally {
      this.releasing = false;
    }
  }

  /** Some eligible member is below its `maxConnections`. */
  hasFreeSlot(): boolean {
    if (this.stale) this.recompute(Date.now());
    for (const m of this.eligible) if (m.target.inFlight < m.maxConnections) return true;
    return false;
  }

  /** Set by the health layer to learn of every attempt's outcome (passive checks). */
  onOutcome: ((member: PoolMember, outcome: AttemptOutcome) => void) | undefined;

  dispatcherFor(member: PoolMember) {
    return (member as Member).dispatcher;
  }

  /**
   * Stop (or resume) sending new requests to `url` in this pool; requests in flight finish.
   * Returns false when the pool has no such target. The admin API calls this; the registry
   * carries the override into the pool that replaces this one on a reload.
   */
  setDraining(url: string, draining: boolean): boolean {
    const key = targetKey(url);
    let found = false;
    for (const m of this.members) {
      if (m.target.url !== key) continue;
      m.draining = draining;
      found = true;
    }
    if (found) {
      this.drainOverrides.set(key, draining);
      this.stale = true;
    }
    return found;
  }

  /** Force eligibility to be recomputed (draining flag flipped, weights changed…). */
  invalidate(): void {
    this.stale = true;
  }

  /** Members eligible right now (weights current), for the health API and tests. */
  eligibleMembers(): readonly Member[] {
    this.recompute(Date.now());
    return this.eligible;
  }

  /** A deadline passed: a lapsed ejection changes who is eligible; a ramp step only weights. */
  private refresh(now: number): void {
    if (now >= this.nextExpiry) this.recompute(now);
    else this.ramp(now);
  }

  private recompute(now: number): void {
    this.stale = false;
    let nextExpiry = Infinity;
    const primaries: Member[] = [];
    const backups: Member[] = [];
    let primaryCandidates = 0;
    for (const m of this.members) {
      const t = m.target;
      if (t.ejectedUntil > now && t.ejectedUntil < nextExpiry) nextExpiry = t.ejectedUntil;
      if (m.draining || m.weight <= 0) continue;
      if (!m.backup) primaryCandidates++;
      if (!t.isUp(now)) continue;
      (m.backup ? backups : primaries).push(m);
    }
    this.nextExpiry = nextExpiry;

    let eligible = primaries.length ? primaries : backups;
    const panic = this.spec.panicThreshold ?? 0;
    if (panic > 0 && primaryCandidates > 0) {
      const healthyShare = (100 * primaries.length) / primaryCandidates;
      // Envoy's panic mode: with too few healthy hosts, piling everything on them (or answering
      // 503) is worse than trying every host. Healthy backups still win over a dead primary
      // set, as a healthy lower priority does in Envoy.
      const backupsCover = primaries.length === 0 && backups.length > 0;
      if (healthyShare < panic && !backupsCover)
        eligible = this.members.filter((m) => !m.backup && !m.draining && m.weight > 0);
    }
    this.eligible = eligible;
    this.ramp(now);
  }

  /**
   * Slow start: a target that came back within `slowStartMs` gets its weight ramped linearly
   * from 10% to 100%, so a cold worker (empty KV cache, lazy CUDA init) is not handed its full
   * share at once. Weights may be fractional; pickers read `effectiveWeight`.
   */
  private ramp(now: number): void {
    let nextRamp = Infinity;
    const window = this.slowStartMs;
    for (const m of this.members) {
      let w = m.weight;
      if (window > 0) {
        const recoveredAt = m.target.recoveredAt;
        const since = now - recoveredAt;
        if (recoveredAt > 0 && since < window) {
          w = m.weight * (RAMP_FLOOR + (1 - RAMP_FLOOR) * Math.max(0, since / window));
          // An ejected target's ramp starts when its ejection lapses: no ticking until then.
          const due = since < 0 ? recoveredAt : now + RAMP_STEP_MS;
          if (due < nextRamp) nextRamp = due;
        }
      }
      m.effectiveWeight = w;
    }
    this.deadline = Math.min(this.nextExpiry, nextRamp);
  }

  close(): void {
    this.queue?.close();
    for (const m of this.members) {
      m.target.off('change', this.onTargetChange);
      this.registry.release(m.target.url, this.spec.protocol, this.tls);
    }
    this.picker.close?.();
  }
}
