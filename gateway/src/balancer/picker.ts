import type { Upstream } from '../../../spec/upstream.js';
import type { TargetState } from './target-state.js';

/** One target as a member of one pool: shared state plus this pool's weight and role. */
export interface PoolMember {
  readonly target: TargetState;
  /** Position in the upstream's `targets` list; stable for a configuration. */
  readonly index: number;
  /** Configured weight. */
  readonly weight: number;
  /** Weight in effect now (slow start may hold it below `weight`); the pool keeps it current. */
  effectiveWeight: number;
  readonly backup: boolean;
  readonly maxConnections: number;
  draining: boolean;
}

/** What a picker may know about the request; built once per request by the pool. */
export interface PickContext {
  /** Client address (x-forwarded-for only when it came from a trusted proxy). */
  readonly clientIp: string;
  /** Key from the upstream's `hashOn`, or undefined when the request lacks it. */
  readonly hashKey: string | undefined;
}

/**
 * A balancing algorithm. The pool decides eligibility (health, ejection, draining, backups,
 * circuit breaker, the targets a retried request already tried) and hands the picker only
 * eligible members, never an empty list — so every picker honours all of it alike, and the
 * hash rings simply walk past a member that is not on the list.
 * Pickers that need stability over the full membership (consistent hashing) get it at creation.
 */
export interface Picker {
  pick(eligible: readonly PoolMember[], ctx: PickContext): PoolMember;
  /** Optional: learn from each finished attempt (latency in ms, ok = not a failure). */
  observe?(member: PoolMember, latencyMs: number, ok: boolean): void;
  /** Optional: stop timers (e.g. metric scrapers) when the pool is replaced. */
  close?(): void;
}

export interface PickerOptions {
  /** All members of the pool in configuration order, backups included. */
  readonly members: readonly PoolMember[];
  readonly upstream: Upstream;
}

/** Every algorithm file under balancer/ exports one of these as `createPicker`. */
export type CreatePicker = (options: PickerOptions) => Picker;
