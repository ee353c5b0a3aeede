import { EventEmitter } from 'node:events';

/** Result of the last active probe, as shown by the health API. */
export interface CheckResult {
  at: string;
  ok: boolean;
  latencyMs: number;
  detail: string;
}

/** Load a model server publishes on its Prometheus /metrics (for least-queue). */
export interface ScrapedLoad {
  waiting: number;
  running: number;
  cacheUsage: number;
  at: number;
}

/**
 * Everything the gateway knows about one worker, keyed by its origin URL and shared by every pool
 * that lists it. It outlives configuration generations so that health, latency and connections
 * survive a reload.
 *
 * `healthy` is the active-check verdict; `ejectedUntil` the passive one (outlier ejection).
 * Whoever changes either emits 'change' so pools can recompute who is eligible.
 */
export class TargetState extends EventEmitter {
  /** Requests currently in flight to this target across all pools. */
  inFlight = 0;
  /** Peak-EWMA of response latency in ms (0 until first observation). */
  ewmaMs = 0;
  ewmaAt = 0;
  healthy = true;
  /** epoch ms until which passive health keeps the target out; 0 = not ejected. */
  ejectedUntil = 0;
  /** epoch ms of the latest passive ejection (a probe that started later may lift it). */
  ejectedAt = 0;
  ejections = 0;
  consecutiveFailures = 0;
  /** epoch ms at which the target last came back (for slow start). */
  recoveredAt = 0;
  lastCheck: CheckResult | undefined;
  /**
   * epoch ms from which ejections are forgiven: every `ejectMs` of clean time after an ejection
   * lapses takes one off `ejections`, so a target that behaves again returns to the short
   * ejection time (Envoy decrements its ejection multiplier the same way).
   */
  ejectionDecayFrom = 0;
  /** Ejections refused because the pool already had `maxEjectionPercent` of its targets out. */
  ejectionsRefused = 0;
  load: ScrapedLoad | undefined;
  requests = 0;
  failures = 0;

  constructor(readonly url: string) {
    super();
    this.setMaxListeners(0);
  }

  isUp(now = Date.now()): boolean {
    return this.healthy && this.ejectedUntil <= now;
  }

  /** Tell pools that eligibility may have changed. */
  changed(): void {
    this.emit('change', this);
  }
}

/** Canonical form of a target URL: origin without trailing slash. */
export function targetKey(url: string): string {
  return new URL(url).origin;
}
