import type { UpstreamPool } from '../balancer/upstream-pool.js';
import type { UpstreamRegistry } from '../balancer/upstream-registry.js';
import type { TargetState } from '../balancer/target-state.js';
import type { Probe, ProbeConfig, ProbeResult } from './probe.js';
import { describeError } from './probe.js';
import { createHttpProbe } from './probe-http.js';
import { createTcpProbe } from './probe-tcp.js';
import { createIcmpProbe } from './probe-icmp.js';
import { createGrpcProbe } from './probe-grpc.js';

/** `healthCheck.active` with every default filled in. */
export interface ActiveConfig extends ProbeConfig {
  intervalMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export interface HealthCheckerOptions {
  /**
   * Verdict for a target before its first probe. 'healthy' (default): a fresh gateway serves
   * at once, and a dead target costs at most `unhealthyThreshold` probes plus whatever passive
   * ejection catches first — the right trade for a gateway that restarts under traffic, where
   * Envoy's unhealthy-until-checked would answer 503 for a whole probe round. 'unhealthy':
   * Envoy's choice, for fleets where sending to an unknown worker is worse than waiting; one
   * passing probe then admits the target.
   */
  initialState?: 'healthy' | 'unhealthy';
  /** Builds probes; tests replace it to point the icmp probe at a missing ping. */
  createProbe?: (origin: string, config: ActiveConfig) => Probe;
}

/** Probe factory by check type: the config word names the file (probe-http.ts…). */
export function createProbe(origin: string, config: ActiveConfig): Probe {
  switch (config.type) {
    case 'tcp':
      return createTcpProbe(origin, config);
    case 'icmp':
      return createIcmpProbe(origin, config);
    case 'grpc':
      return createGrpcProbe(origin, config);
    default:
      return createHttpProbe(origin, config);
  }
}

export function activeConfigOf(pool: UpstreamPool): ActiveConfig | undefined {
  const a = pool.spec.healthCheck?.active;
  if (!a) return undefined;
  return {
    type: a.type ?? 'http',
    path: a.path ?? '/health',
    intervalMs: a.intervalMs ?? 2000,
    timeoutMs: a.timeoutMs ?? 1000,
    healthyThreshold: a.healthyThreshold ?? 2,
    unhealthyThreshold: a.unhealthyThreshold ?? 3,
    expectedStatus: a.expectedStatus ?? [200],
    grpcService: a.grpcService,
    tls: pool.tls,
  };
}

/** The probing of one worker URL, shared by every pool that lists it. */
class TargetCheck {
  /** Each pool that wants this target checked, with its config; the merge picks one. */
  readonly pools = new Map<UpstreamPool, ActiveConfig>();
  config!: ActiveConfig;
  probe: Probe | undefined;
  timer: NodeJS.Timeout | undefined;
  running = false;
  stopped = false;
  /** Consecutive results in one direction: the hysteresis that stops flapping. */
  okStreak = 0;
  failStreak = 0;
  /** Probe runs, for tests and metrics. */
  runs = 0;

  constructor(readonly state: TargetState) {}
}

/**
 * Active health checking: one probe loop per distinct target URL however many pools list it,
 * so N pools over one worker cost one probe per interval, not N. When pools disagree, the
 * config with the shortest interval wins whole (type, path, timeout, thresholds, statuses —
 * mixing fields of different checks would probe something nobody configured); ties go to the
 * pool whose name sorts first, so the choice does not depend on load order.
 *
 * The verdict lives on the shared TargetState, so it survives reloads: the registry announces
 * the new pool before closing the one it replaces, and the check never stops in between.
 */
export class HealthChecker {
  private readonly checks = new Map<string, TargetCheck>();
  private readonly pools = new Set<UpstreamPool>();
  private readonly build: (origin: string, config: ActiveConfig) => Probe;
  private readonly startUnhealthy: boolean;
  private unfollow: (() => void) | undefined;

  constructor(options: HealthCheckerOptions = {}) {
    this.build = options.createProbe ?? createProbe;
    this.startUnhealthy = options.initialState === 'unhealthy';
  }

  /** Check every pool the registry has now and will create; stop with the pools it closes. */
  attach(registry: UpstreamRegistry): this {
    this.unfollow = registry.follow({ created: (pool) => this.add(pool), closed: (pool) => this.remove(pool) });
    return this;
  }

  /** Start checking the targets of `pool` (no-op without `healthCheck.active`). */
  add(pool: UpstreamPool): void {
    const config = activeConfigOf(pool);
    if (!config || this.pools.has(pool)) return;
    this.pools.add(pool);
    for (const m of pool.members) {
      const key = m.target.url;
      let check = this.checks.get(key);
      const fresh = !check;
      if (!check) {
        check = new TargetCheck(m.target);
        this.checks.set(key, check);
      }
      check.pools.set(pool, config);
      this.reconfigure(check, fresh);
    }
  }

  /** Stop checking for `pool`; a target's check ends when no pool needs it any more. */
  remove(pool: UpstreamPool): void {
    if (!this.pools.delete(pool)) return;
    for (const m of pool.members) {
      const check = this.checks.get(m.target.url);
      if (!check || !check.pools.delete(pool)) continue;
      if (check.pools.size === 0) this.stop(check, true);
      else this.reconfigure(check, false);
    }
  }

  /** How many probe loops run (one per distinct checked target). */
  get size(): number {
    return this.checks.size;
  }

  /** Probes run so far for `url`, for tests and diagnostics. */
  runsFor(url: string): number {
    return this.checks.get(new URL(url).origin)?.runs ?? 0;
  }

  close(): void {
    this.unfollow?.();
    this.unfollow = undefined;
    for (const check of this.checks.values()) this.stop(check, false);
    this.checks.clear();
    this.pools.clear();
  }

  private reconfigure(check: TargetCheck, fresh: boolean): void {
    let chosen: { name: string; config: ActiveConfig } | undefined;
    for (const [pool, config] of check.pools) {
      if (
        !chosen ||
        config.intervalMs < chosen.config.intervalMs ||
        (config.intervalMs === chosen.config.intervalMs && pool.name < chosen.name)
      )
        chosen = { name: pool.name, config };
    }
    const config = chosen!.config;
    const previous = check.config;
    if (previous && sameProbe(previous, config) && previous.intervalMs === config.intervalMs) {
      check.config = config;
      return;
    }
    check.config = config;
    if (!previous || !sameProbe(previous, config)) {
      check.probe?.close();
      check.probe = this.build(check.state.url, config);
    }
    if (fresh && this.startUnhealthy && check.state.lastCheck === undefined && check.state.healthy) {
      check.state.healthy = false;
      // One passing probe admits an unknown target (Envoy does the same on first success).
      check.okStreak = config.healthyThreshold - 1;
      check.state.changed();
    }
    // (Re)start the loop; a probe in flight reschedules itself with the new interval.
    if (!check.running) {
      clearTimeout(check.timer);
      // First probe soon, but spread so a reload does not probe every worker in the same tick.
      const delay = fresh ? Math.random() * Math.min(config.intervalMs * 0.1, 1000) : jitter(config.intervalMs);
      this.schedule(check, delay);
    }
  }

  private schedule(check: TargetCheck, delayMs: number): void {
    check.timer = setTimeout(() => void this.runOnce(check), delayMs);
    check.timer.unref();
  }

  private async runOnce(check: TargetCheck): Promise<void> {
    check.timer = undefined;
    check.running = true;
    const started = Date.now();
    const config = check.config;
    let result: ProbeResult;
    try {
      result = await check.probe!.run();
    } catch (err) {
      // Probes report failures as results; this is a bug guard so the loop never dies.
      result = { ok: false, latencyMs: Date.now() - started, detail: describeError(err) };
    }
    check.running = false;
    if (check.stopped) return;
    check.runs++;
    this.record(check, result, config, started);
    // Interval counts from the start of a probe, so a slow probe does not stretch the period.
    const next = check.config;
    this.schedule(check, Math.max(0, jitter(next.intervalMs) - (Date.now() - started)));
  }

  private record(check: TargetCheck, result: ProbeResult, config: ActiveConfig, probeStartedAt: number): void {
    const state = check.state;
    const now = Date.now();
    state.lastCheck = {
      at: new Date(now).toISOString(),
      ok: result.ok,
      latencyMs: Math.round(result.latencyMs * 10) / 10,
      detail: result.detail,
    };
    if (result.ok) {
      check.okStreak++;
      check.failStreak = 0;
      // A probe sent after a passive ejection and answered well lifts it now rather than when
      // it lapses (Envoy's successful_active_health_check_uneject_host): a worker that was
      // briefly sick is not kept out for its whole, doubling, ejection time.
      if (state.ejectedUntil > now && probeStartedAt >= state.ejectedAt) {
        state.ejectedUntil = now;
        state.ejectionDecayFrom = now;
        state.recoveredAt = now;
        state.changed();
      }
      if (!state.healthy && check.okStreak >= config.healthyThreshold) {
        state.healthy = true;
        // Slow start counts from when traffic can actually reach it again.
        state.recoveredAt = Math.max(now, state.ejectedUntil);
        state.changed();
      }
    } else {
      check.failStreak++;
      check.okStreak = 0;
      if (state.healthy && check.failStreak >= config.unhealthyThreshold) {
        state.healthy = false;
        state.changed();
      }
    }
    state.emit('check', state.lastCheck);
  }

  /**
   * End a target's probing. When no pool asks for an active check any more the active verdict
   * no longer applies: the target is healthy again unless passively ejected.
   */
  private stop(check: TargetCheck, forget: boolean): void {
    check.stopped = true;
    clearTimeout(check.timer);
    check.probe?.close();
    if (!forget) return;
    this.checks.delete(check.state.url);
    if (!check.state.healthy) {
      check.state.healthy = true;
      check.state.recoveredAt = Math.max(Date.now(), check.state.ejectedUntil);
      check.state.changed();
    }
  }
}

function sameProbe(a: ActiveConfig, b: ActiveConfig): boolean {
  return (
    a.type === b.type &&
    a.path === b.path &&
    a.grpcService === b.grpcService &&
    a.tls?.digest === b.tls?.digest &&
    a.timeoutMs === b.timeoutMs &&
    a.expectedStatus.length === b.expectedStatus.length &&
    a.expectedStatus.every((s, i) => s === b.expectedStatus[i])
  );
}

/** ±10% so checks of many targets (and many gateway nodes) drift apart instead of bunching. */
function jitter(intervalMs: number): number {
  return intervalMs * (0.9 + 0.2 * Math.random());
}
