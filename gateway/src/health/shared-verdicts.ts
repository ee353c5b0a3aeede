import type { TargetRegistry } from '../balancer/target-registry.js';
import type { CheckResult, TargetState } from '../balancer/target-state.js';
import type { UpstreamRegistry } from '../balancer/upstream-registry.js';
import type { HealthChecker } from './active-checker.js';

/** One target's active-check verdict, as the prober process tells the others (IPC). */
export interface HealthVerdict {
  url: string;
  healthy: boolean;
  lastCheck: CheckResult | undefined;
}

/**
 * With WORKERS > 1 one process probes (worker 1) and every other one applies its verdicts, so
 * N workers cost one probe per target per interval, not N, and every worker takes a target out
 * at the same moment. Passive ejections are shared too, from whichever worker makes them
 * (shared-ejections.ts); across gateway nodes each node judges the traffic it sees itself.
 */
export function publishVerdicts(upstreams: UpstreamRegistry, send: (verdict: HealthVerdict) => void): () => void {
  const watched = new WeakSet<TargetState>();
  const last = new WeakMap<TargetState, HealthVerdict>();
  const publish = (state: TargetState) => {
    const before = last.get(state);
    if (before && before.healthy === state.healthy && before.lastCheck === state.lastCheck) return;
    const verdict = { url: state.url, healthy: state.healthy, lastCheck: state.lastCheck };
    last.set(state, verdict);
    send(verdict);
  };
  const watch = (state: TargetState) => {
    if (watched.has(state)) return;
    watched.add(state);
    // 'check' after every probe; 'change' also when checking stops and the verdict resets.
    state.on('check', () => publish(state));
    state.on('change', () => publish(state));
    if (state.lastCheck !== undefined || !state.healthy) publish(state);
  };
  return upstreams.follow({ created: (pool) => pool.members.forEach((m) => watch(m.target)), closed: () => {} });
}

/** The non-probing side: stop this process' own probes and take the prober's verdicts. */
export class VerdictFollower {
  /** The latest verdict per target, also for targets this process has not built yet. */
  private readonly verdicts = new Map<string, HealthVerdict>();
  private readonly unfollow: () => void;

  constructor(
    checker: HealthChecker,
    upstreams: UpstreamRegistry,
    private readonly targets: TargetRegistry,
  ) {
    // Closing the checker before any pool exists means this process never probes.
    checker.close();
    this.unfollow = upstreams.follow({
      created: (pool) => {
        for (const m of pool.members) {
          const verdict = this.verdicts.get(m.target.url);
          if (verdict) apply(m.target, verdict);
        }
      },
      closed: () => {},
    });
  }

  receive(verdict: HealthVerdict): void {
    this.verdicts.set(verdict.url, verdict);
    const state = this.targets.get(verdict.url)?.state;
    if (state) apply(state, verdict);
  }

  close(): void {
    this.unfollow();
  }
}

function apply(state: TargetState, verdict: HealthVerdict): void {
  const changed = state.healthy !== verdict.healthy;
  state.lastCheck = verdict.lastCheck;
  if (!changed) return;
  state.healthy = verdict.healthy;
  // Slow start counts from when traffic can reach it again, as in the prober (active-checker.ts).
  if (verdict.healthy) state.recoveredAt = Math.max(Date.now(), state.ejectedUntil);
  state.changed();
}
