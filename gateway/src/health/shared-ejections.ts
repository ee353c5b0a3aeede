import type { TargetRegistry } from '../balancer/target-registry.js';
import type { TargetState } from '../balancer/target-state.js';
import type { UpstreamRegistry } from '../balancer/upstream-registry.js';

/** One target's passive ejection as the process that made it, or lifted it early, tells the others (IPC). */
export interface EjectionNotice {
  url: string;
  /** epoch ms of the ejection: which ejection this notice is about. */
  ejectedAt: number;
  /** epoch ms until which the target is out; at or before now once an active check lifted it. */
  ejectedUntil: number;
  /** The ejection count the length was computed from (the next one doubles it). */
  ejections: number;
}

export interface EjectionSharing {
  /** Apply another process's notice (the primary relays them). */
  receive(notice: EjectionNotice): void;
  close(): void;
}

/**
 * With WORKERS > 1 the passive verdict is the node's, as Envoy's outlier detection is its
 * cluster's across worker threads: a worker that ejects a target (outlier-detector.ts) tells
 * the others, which take it out for the same time, and an early lift by an active check (worker
 * 1 probes) reaches them too. Without this, a failing target stayed in every other worker's
 * rotation until each had seen its own run of failures, and the admin API (worker 1) did not
 * show an ejection made by another worker.
 *
 * Each process still counts the failures it sees itself; only the decision travels. `known`
 * holds the latest ejection per target, made here or heard, so applying a notice (which emits
 * 'change') is not sent back out.
 */
export function shareEjections(upstreams: UpstreamRegistry, targets: TargetRegistry, send: (notice: EjectionNotice) => void): EjectionSharing {
  const known = new Map<string, EjectionNotice>();
  const watched = new WeakSet<TargetState>();
  const publish = (state: TargetState) => {
    if (state.ejectedAt === 0) return;
    const last = known.get(state.url);
    // Only this process's own news: a newer ejection, or an earlier end of the one known.
    if (last !== undefined && !supersedes(state, last)) return;
    const notice = { url: state.url, ejectedAt: state.ejectedAt, ejectedUntil: state.ejectedUntil, ejections: state.ejections };
    known.set(state.url, notice);
    send(notice);
  };
  const watch = (state: TargetState) => {
    const notice = known.get(state.url);
    if (notice !== undefined) apply(state, notice);
    if (watched.has(state)) return;
    watched.add(state);
    state.on('change', () => publish(state));
  };
  const unfollow = upstreams.follow({ created: (pool) => pool.members.forEach((m) => watch(m.target)), closed: () => {} });
  return {
    receive(notice) {
      const last = known.get(notice.url);
      if (last !== undefined && !supersedes(notice, last)) return;
      known.set(notice.url, notice);
      const state = targets.get(notice.url)?.state;
      if (state !== undefined) apply(state, notice);
    },
    close: unfollow,
  };
}

type Ejection = Pick<EjectionNotice, 'ejectedAt' | 'ejectedUntil'>;

/**
 * Whether `a` is later news than `b`: a newer ejection, or the same one ending sooner (the
 * prober's passing check lifted it, active-checker.ts). Equal, older or longer is not.
 */
function supersedes(a: Ejection, b: Ejection): boolean {
  return a.ejectedAt > b.ejectedAt || (a.ejectedAt === b.ejectedAt && a.ejectedUntil < b.ejectedUntil);
}

function apply(state: TargetState, notice: EjectionNotice): void {
  if (!supersedes(notice, state)) return;
  if (notice.ejectedAt > state.ejectedAt) {
    // Another process's ejection.
    state.ejectedAt = notice.ejectedAt;
    state.ejections = Math.max(state.ejections, notice.ejections);
    state.consecutiveFailures = 0;
  }
  // As the process that decided it set them: forgiveness counts, and slow start begins, when the ejection ends.
  state.ejectedUntil = notice.ejectedUntil;
  state.ejectionDecayFrom = notice.ejectedUntil;
  state.recoveredAt = notice.ejectedUntil;
  state.changed();
}
