import { formatNumber, formatRatio, formatTable, NOT_APPLICABLE, writeResults } from './report.js';
import type { ArrivalResult } from './balance-arrivals.js';

/** The balancing bench's results: one entry per contender and scenario, the tables, the goal. */

export interface BalanceRun {
  scenario: 'load' | 'failure';
  /** Offered load as a share of the pool's capacity (all workers up). */
  loadShare: number;
  ratePerSecond: number;
  contender: string;
  description: string;
  status: 'ran' | 'failed' | 'skipped';
  problem?: string;
  arrivals?: ArrivalResult;
  /** Share of the measured window's answers that came from the slow worker (its x-worker header). */
  slowShare?: number;
  /** Inference requests each worker received during the whole run (warm-up included), from its stats. */
  workerRequests?: Record<string, number>;
  /** CPU time of the balancer's process group over the run, per answered request. */
  cpuMsPerRequest?: number;
}

export interface GoalCheck {
  loadShare: number;
  best?: { contender: string; p99Ms: number };
  roundRobinP99Ms?: number;
  nginxP99Ms?: number;
  haproxyP99Ms?: number;
  /** best ≤ 0.5 × round robin, ≤ nginx, ≤ HAProxy; undefined when a figure is missing. */
  met?: boolean;
  lines: string[];
}

export interface BalanceResults {
  benchmark: 'balance';
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; cpuModel: string; node: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  setup: Record<string, unknown>;
  notes: string[];
  runs: BalanceRun[];
  goal: GoalCheck;
}

const SWITCHBOARD_PREFIX = 'switchboard ';

function failures(run: BalanceRun): number | undefined {
  return run.arrivals ? run.arrivals.non2xx + run.arrivals.errors : undefined;
}

function describeFailures(arrivals: ArrivalResult): string {
  const parts = [
    ...Object.entries(arrivals.statuses).map(([status, count]) => `${count}×${status}`),
    ...Object.entries(arrivals.errorCodes).map(([code, count]) => `${count}×${code}`),
  ];
  return parts.join(' ');
}

function ms(value: number | undefined): string {
  return value === undefined ? NOT_APPLICABLE : formatNumber(value, value < 100 ? 1 : 0);
}

function percent(value: number | undefined): string {
  return value === undefined ? NOT_APPLICABLE : `${(value * 100).toFixed(1)}%`;
}

export function loadTable(runs: BalanceRun[]): string {
  const roundRobin = runs.find((run) => run.contender === `${SWITCHBOARD_PREFIX}round-robin`)?.arrivals;
  const rows = runs.map((run) => {
    const a = run.arrivals;
    return [
      run.contender,
      ms(a?.p50Ms),
      ms(a?.p95Ms),
      ms(a?.p99Ms),
      ms(a?.maxMs),
      a ? formatNumber(a.goodputPerSecond, 1) : NOT_APPLICABLE,
      a ? String(failures(run)) : run.status,
      percent(run.slowShare),
      formatRatio(a?.p99Ms, roundRobin?.p99Ms),
      run.cpuMsPerRequest === undefined ? NOT_APPLICABLE : run.cpuMsPerRequest.toFixed(2),
    ];
  });
  return formatTable([
    { header: 'contender', align: 'left' },
    { header: 'p50 ms' },
    { header: 'p95 ms' },
    { header: 'p99 ms' },
    { header: 'max ms' },
    { header: 'ok req/s' },
    { header: 'errors' },
    { header: 'to slow' },
    { header: 'p99 vs RR' },
    { header: 'cpu ms/req' },
  ], rows);
}

export function failureTable(runs: BalanceRun[], killAtSeconds: number): string {
  const rows = runs.map((run) => {
    const a = run.arrivals;
    // Sent when, relative to the kill, were the requests that failed: negative = already in
    // flight when the worker died; the last one says how long the dead worker kept costing.
    const first = a?.firstFailureAtSeconds;
    const last = a?.lastFailureAtSeconds;
    const relative = (at: number): string => `${at - killAtSeconds >= 0 ? '+' : ''}${(at - killAtSeconds).toFixed(2)}`;
    return [
      run.contender,
      ms(a?.p50Ms),
      ms(a?.p99Ms),
      ms(a?.maxMs),
      a ? formatNumber(a.goodputPerSecond, 1) : NOT_APPLICABLE,
      a ? String(failures(run)) : run.status,
      first === undefined || last === undefined ? (a ? 'none' : NOT_APPLICABLE) : `${relative(first)} … ${relative(last)} s`,
      a ? describeFailures(a) || '-' : (run.problem ?? NOT_APPLICABLE).split('\n')[0]!.slice(0, 60),
    ];
  });
  return formatTable([
    { header: 'contender', align: 'left' },
    { header: 'p50 ms' },
    { header: 'p99 ms' },
    { header: 'max ms' },
    { header: 'ok req/s' },
    { header: 'errors' },
    { header: 'failed sent at (vs kill)' },
    { header: 'what failed', align: 'left' },
  ], rows);
}

/**
 * The issue's goal at one load: the best Switchboard algorithm's p99 at most half of round
 * robin's and no more than nginx least_conn's and HAProxy leastconn's, all from this run. A run
 * with errors cannot be "best": dropping the slow requests would be a cheap way to a low p99.
 */
export function checkGoal(runs: BalanceRun[], loadShare: number): GoalCheck {
  const atLoad = runs.filter((run) => run.scenario === 'load' && run.loadShare === loadShare && run.arrivals);
  const p99Of = (name: string): number | undefined => atLoad.find((run) => run.contender === name)?.arrivals?.p99Ms;
  const candidates = atLoad
    .filter((run) => run.contender.startsWith(SWITCHBOARD_PREFIX) && failures(run) === 0)
    .sort((a, b) => a.arrivals!.p99Ms - b.arrivals!.p99Ms);
  const bestRun = candidates[0];
  const goal: GoalCheck = {
    loadShare,
    roundRobinP99Ms: p99Of(`${SWITCHBOARD_PREFIX}round-robin`),
    nginxP99Ms: p99Of('nginx least_conn'),
    haproxyP99Ms: p99Of('haproxy leastconn'),
    lines: [],
  };
  const pct = `${Math.round(loadShare * 100)}%`;
  if (bestRun === undefined) {
    goal.lines.push(`goal at ${pct}: no Switchboard algorithm ran without errors — not met`);
    goal.met = false;
    return goal;
  }
  const best = { contender: bestRun.contender, p99Ms: bestRun.arrivals!.p99Ms };
  goal.best = best;
  const checks: Array<[string, number | undefined, number]> = [
    ['0.5 × round robin', goal.roundRobinP99Ms, 0.5],
    ['nginx least_conn', goal.nginxP99Ms, 1],
    ['HAProxy leastconn', goal.haproxyP99Ms, 1],
  ];
  goal.lines.push(`goal at ${pct}: best Switchboard algorithm is ${best.contender.slice(SWITCHBOARD_PREFIX.length)}, p99 ${ms(best.p99Ms)} ms`);
  let met: boolean | undefined = true;
  for (const [label, reference, factor] of checks) {
    if (reference === undefined) {
      goal.lines.push(`  ≤ ${label}: ${NOT_APPLICABLE} (did not run)`);
      met = undefined;
      continue;
    }
    const bound = reference * factor;
    const ok = best.p99Ms <= bound;
    if (!ok && met !== undefined) met = false;
    const margin = ((best.p99Ms / bound - 1) * 100).toFixed(0);
    goal.lines.push(`  ≤ ${label} (${ms(bound)} ms): ${ok ? 'yes' : `NO, ${margin}% over`}`);
  }
  goal.met = met;
  goal.lines.push(`  → ${met === undefined ? 'not decidable (a contender is missing)' : met ? 'MET' : 'NOT MET'}`);
  return goal;
}

export function writeBalanceResults(results: BalanceResults): string[] {
  return writeResults('balance', results);
}
