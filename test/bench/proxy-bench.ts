import { cpus, loadavg } from 'node:os';
import { allContenders, type Contender } from './contenders.js';
import {
  chooseThroughputLoader, fixedRateLoaderDescription, runFixedRate, type LoadResult, type ThroughputLoader,
} from './load.js';
import { median, percentile } from './percentiles.js';
import { cpuSecondsBetween, cpuSnapshot, groupMemory } from './proc-stats.js';
import {
  formatDelta, formatMiB, formatNumber, formatRatio, formatTable, NOT_APPLICABLE, writeResults,
} from './report.js';
import type { BenchSettings } from './settings.js';
import { runRounds, type RoundHooks } from './rounds.js';
import { startDelayedUpstreams, startFastUpstreams, type Target } from './upstreams.js';

/**
 * The proxy-overhead benchmark: the same three upstreams behind every contender, first at full
 * speed (what one core of proxy can do, and what each request costs it), then at a fixed rate
 * over slow upstreams (what the proxy adds to the latency a client sees). Contenders take turns
 * in interleaved rounds (rounds.ts).
 */

/** Later latency rounds only need their new client connections set up, not a JIT warm-up. */
const LATER_ROUND_WARMUP_SECONDS = 0.5;

export interface ThroughputFigures extends LoadResult {
  /** User + system CPU of the proxy's process group during the measured window. */
  proxyCpuSeconds?: number;
  proxyCpuUsPerRequest?: number;
  peakRssBytes?: number;
}

/**
 * p50 and p99 are the median over rounds of each round's figure: one round spoiled by someone
 * else's load on the shared machine then moves nothing. The pooled percentiles over all rounds
 * are kept beside them.
 */
export interface LatencyFigures extends LoadResult {
  pooledP50Ms: number;
  pooledP99Ms: number;
  /** Per round: this contender's p99 minus direct's p99 in the same round. */
  p99AddedPerRoundMs?: number[];
  /** Median of `p99AddedPerRoundMs`. */
  p99AddedMs?: number;
  /** Per round, requests per second achieved; well under the target rate = the machine could not keep up. */
  ratePerRound: number[];
  p50PerRoundMs: number[];
  p99PerRoundMs: number[];
  /**
   * The proxy's CPU per request at the fixed rate, over the measured part of each round. Every
   * contender gets the same arrivals here, so also the same number of wake-ups per second; at
   * saturation (the throughput run) a slower contender's loader and upstreams sleep more often
   * between its answers, and the kernel's work of waking them on each write (loopback delivery
   * runs in the writer's context) is charged to that contender, widening every gap.
   */
  proxyCpuUsPerRequest?: number;
}

export interface ContenderResult {
  name: string;
  description: string;
  status: 'ran' | 'skipped' | 'failed';
  /** Why it was skipped or what failed. */
  problems: string[];
  throughput?: ThroughputFigures;
  latency?: LatencyFigures;
}

export interface ProxyBenchResults {
  benchmark: 'proxy';
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; cpuModel: string; node: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
  settings: BenchSettings;
  throughputRun: { loader: string; upstreams: string };
  latencyRun: { loader: string; upstreams: string; rate: number; connections: number };
  notes: string[];
  contenders: ContenderResult[];
  /** CPU per request of one contender over another's, from this run (cpuComparisons). */
  cpuRatios: CpuRatio[];
  /** The same at the latency run's fixed rate. */
  cpuRatiosAtRate?: CpuRatio[];
  /** Issue 12's goal for the partner pipeline, judged on this run's figures. */
  pipelineGoal: PipelineGoal;
}

export interface CpuRatio {
  contender: string;
  reference: string;
  /** contender's CPU µs/request ÷ reference's; undefined when either did not run. */
  ratio: number | undefined;
}

/**
 * Issue 12, "Goals": the full partner pipeline (key + limit + schema + least-connections +
 * metrics + access log) ≤ 1.3× the CPU per request of a bare node:http + undici proxy
 * measured in the same run.
 */
export const PIPELINE_GOAL_RATIO = 1.3;

export interface PipelineGoal {
  limit: number;
  /** At saturation (the throughput run). */
  ratio: number | undefined;
  /** undefined: not judged, one of the two did not run. */
  met: boolean | undefined;
  /** At the latency run's fixed rate, the same arrivals for both (LatencyFigures.proxyCpuUsPerRequest). */
  ratioAtRate?: number | undefined;
  metAtRate?: boolean | undefined;
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Sums over a contender's throughput rounds. */
interface ThroughputTally {
  requests: number;
  seconds: number;
  proxyCpuSeconds: number;
  non2xx: number;
  errors: number;
  p50sMs: number[];
  p99sMs: number[];
  peakRssBytes?: number;
}

function emptyTally(): ThroughputTally {
  return { requests: 0, seconds: 0, proxyCpuSeconds: 0, non2xx: 0, errors: 0, p50sMs: [], p99sMs: [] };
}

/**
 * req/s and CPU per request over all rounds together; latency percentiles of a closed-loop run
 * cannot be pooled from wrk's summaries, so those are the median over rounds.
 */
function throughputFigures(tally: ThroughputTally, measuredProxy: boolean): ThroughputFigures {
  const figures: ThroughputFigures = {
    requests: tally.requests,
    seconds: tally.seconds,
    requestsPerSecond: tally.seconds > 0 ? tally.requests / tally.seconds : 0,
    p50Ms: median(tally.p50sMs),
    p99Ms: median(tally.p99sMs),
    non2xx: tally.non2xx,
    errors: tally.errors,
  };
  if (!measuredProxy) return figures;
  return {
    ...figures,
    proxyCpuSeconds: tally.proxyCpuSeconds,
    proxyCpuUsPerRequest: tally.requests > 0 ? (tally.proxyCpuSeconds * 1e6) / tally.requests : undefined,
    peakRssBytes: tally.peakRssBytes,
  };
}

/** A contender's latency rounds, kept whole so that rounds can be paired with direct's. */
interface LatencyTally {
  rounds: Array<LoadResult | undefined>;
  latenciesMs: number[];
  /** CPU seconds over the measured parts of the rounds, and the requests answered in them. */
  cpuSeconds: number;
  cpuRequests: number;
}

function latencyFigures(tally: LatencyTally): LatencyFigures {
  const sorted = Float64Array.from(tally.latenciesMs).sort();
  const rounds = tally.rounds.filter((round) => round !== undefined);
  const requests = rounds.reduce((sum, round) => sum + round.requests, 0);
  const seconds = rounds.reduce((sum, round) => sum + round.seconds, 0);
  return {
    requests,
    seconds,
    requestsPerSecond: seconds > 0 ? requests / seconds : 0,
    p50Ms: median(rounds.map((round) => round.p50Ms)),
    p99Ms: median(rounds.map((round) => round.p99Ms)),
    non2xx: rounds.reduce((sum, round) => sum + round.non2xx, 0),
    errors: rounds.reduce((sum, round) => sum + round.errors, 0),
    pooledP50Ms: percentile(sorted, 0.5),
    pooledP99Ms: percentile(sorted, 0.99),
    ratePerRound: rounds.map((round) => Math.round(round.requestsPerSecond)),
    p50PerRoundMs: rounds.map((round) => round.p50Ms),
    p99PerRoundMs: rounds.map((round) => round.p99Ms),
    ...(tally.cpuRequests > 0 ? { proxyCpuUsPerRequest: (tally.cpuSeconds * 1e6) / tally.cpuRequests } : {}),
  };
}

/** Each round against direct's round just before it: the pair saw the same machine. */
function addedOverDirect(tally: LatencyTally, direct: LatencyTally): number[] {
  const added: number[] = [];
  tally.rounds.forEach((round, index) => {
    const reference = direct.rounds[index];
    if (round !== undefined && reference !== undefined) added.push(round.p99Ms - reference.p99Ms);
  });
  return added;
}

function selectedContenders(settings: BenchSettings): Contender[] {
  if (settings.contenders === undefined) return allContenders;
  const unknown = settings.contenders.filter((name) => !allContenders.some((contender) => contender.name === name));
  if (unknown.length > 0) {
    throw new Error(`BENCH_CONTENDERS: unknown ${unknown.join(', ')}; known: ${allContenders.map((c) => c.name).join(', ')}`);
  }
  // `direct` is the reference every ratio and "added" figure needs, so it always runs.
  return allContenders.filter((contender) => contender.name === 'direct' || settings.contenders!.includes(contender.name));
}

function describeLoad(figures: LoadResult): string {
  const problems = figures.non2xx + figures.errors > 0 ? `, ${figures.non2xx} non-2xx, ${figures.errors} errors` : '';
  return `${formatNumber(figures.requestsPerSecond)} req/s, p50 ${figures.p50Ms.toFixed(2)} ms, p99 ${figures.p99Ms.toFixed(2)} ms${problems}`;
}

/** What both runs share: the settings, the work dir, who runs, and where results go. */
interface RunContext {
  settings: BenchSettings;
  workDir: string;
  contenders: Contender[];
  roundSeconds: number;
  resultOf(contender: Contender): ContenderResult;
  failed(run: string): RoundHooks['failed'];
}

async function throughputRounds(run: RunContext, loader: ThroughputLoader, targets: Target[]): Promise<void> {
  const { settings, workDir, roundSeconds, resultOf, failed } = run;
  const throughput = new Map<Contender, ThroughputTally>();
  await runRounds(run.contenders, workDir, targets, settings.rounds, {
    async measure(contender, running, round) {
      if (round === 0) await loader.run(running.url, settings.connections, settings.warmupSeconds, running.headers);
      const pgid = running.pgid;
      const before = pgid === undefined ? undefined : cpuSnapshot(pgid);
      const load = await loader.run(running.url, settings.connections, roundSeconds, running.headers);
      const tally = throughput.get(contender) ?? emptyTally();
      throughput.set(contender, tally);
      if (pgid !== undefined && before !== undefined) {
        tally.proxyCpuSeconds += cpuSecondsBetween(before, cpuSnapshot(pgid));
      }
      tally.requests += load.requests;
      tally.seconds += load.seconds;
      tally.non2xx += load.non2xx;
      tally.errors += load.errors;
      tally.p50sMs.push(load.p50Ms);
      tally.p99sMs.push(load.p99Ms);
      const figures = throughputFigures(tally, pgid !== undefined);
      resultOf(contender).throughput = figures;
      const cpu = figures.proxyCpuUsPerRequest;
      log(`  ${`${contender.name} #${round + 1}`.padEnd(24)} ${describeLoad(load)}`
        + (cpu === undefined ? '' : `, proxy CPU ${cpu.toFixed(1)} µs/req so far`));
    },
    finish(contender, running) {
      // VmHWM is each process's peak over its whole life, warm-up included.
      const tally = throughput.get(contender);
      if (tally !== undefined && running.pgid !== undefined) {
        tally.peakRssBytes = groupMemory(running.pgid).peakRssBytes;
        resultOf(contender).throughput = throughputFigures(tally, true);
      }
    },
    failed: failed('throughput'),
  });
}

async function latencyRounds(run: RunContext, targets: Target[]): Promise<Map<Contender, LatencyTally>> {
  const { settings, workDir, roundSeconds, resultOf, failed } = run;
  const latency = new Map<Contender, LatencyTally>();
  await runRounds(run.contenders, workDir, targets, settings.rounds, {
    async measure(contender, running, round) {
      // Each round is a new client with new connections: later rounds get a short warm-up so
      // connection set-up is not measured; the first also warms the proxy itself.
      const warmup = round === 0 ? settings.warmupSeconds : Math.min(settings.warmupSeconds, LATER_ROUND_WARMUP_SECONDS);
      // The CPU of the measured part only: read once the client's warm-up is over (it starts a
      // few ms after the timer, so the window holds a sliver of warm-up too, alike for all).
      const pgid = running.pgid;
      let before: ReturnType<typeof cpuSnapshot> | undefined;
      const warmedUp = pgid === undefined ? undefined : setTimeout(() => (before = cpuSnapshot(pgid)), warmup * 1000);
      const load = await runFixedRate(running.url, settings.latencyRate, settings.latencyConnections, warmup, roundSeconds, running.headers).finally(() => clearTimeout(warmedUp));
      const tally = latency.get(contender) ?? { rounds: [], latenciesMs: [], cpuSeconds: 0, cpuRequests: 0 };
      latency.set(contender, tally);
      if (pgid !== undefined && before !== undefined) {
        tally.cpuSeconds += cpuSecondsBetween(before, cpuSnapshot(pgid));
        tally.cpuRequests += load.requests;
      }
      const { latenciesMs, ...figures } = load;
      tally.rounds[round] = figures;
      for (const value of latenciesMs) tally.latenciesMs.push(value);
      resultOf(contender).latency = latencyFigures(tally);
      log(`  ${`${contender.name} #${round + 1}`.padEnd(24)} ${describeLoad(load)}`);
    },
    failed: failed('latency'),
  });
  return latency;
}

export async function runProxyBench(settings: BenchSettings, workDir: string): Promise<ProxyBenchResults> {
  const startedAt = new Date().toISOString();
  const loadAverageAtStart = loadavg();
  const notes: string[] = [];
  const results: ContenderResult[] = selectedContenders(settings).map((contender) => {
    const reason = contender.unavailableReason();
    if (reason !== undefined) notes.push(reason);
    return {
      name: contender.name,
      description: contender.description,
      status: reason === undefined ? 'ran' : 'skipped',
      problems: reason === undefined ? [] : [reason],
    };
  });
  // A contender that failed in the throughput run still gets its try in the latency run.
  const runnable = (): Contender[] => results
    .filter((result) => result.status !== 'skipped')
    .map((result) => allContenders.find((contender) => contender.name === result.name)!);

  const { loader, notes: loaderNotes } = chooseThroughputLoader(settings.loader, workDir);
  notes.push(...loaderNotes);
  for (const note of notes) log(`note: ${note}`);

  // Run 1: throughput and CPU per request over the fast upstreams.
  const fast = await startFastUpstreams(workDir, settings.bodyBytes);
  notes.push(...fast.notes);
  for (const note of fast.notes) log(`note: ${note}`);
  const roundSeconds = settings.durationSeconds / settings.rounds;
  const resultOf = (contender: Contender): ContenderResult => results.find((result) => result.name === contender.name)!;
  const failed = (runName: string) => (contender: Contender, phase: string, error: unknown): void => {
    const result = resultOf(contender);
    result.status = 'failed';
    result.problems.push(`${runName} run, ${phase}: ${messageOf(error)}`);
    log(`  ${contender.name.padEnd(20)} failed (${phase}): ${messageOf(error).split('\n')[0]}`);
  };
  const run: RunContext = { settings, workDir, contenders: runnable(), roundSeconds, resultOf, failed };
  const rounds = settings.rounds === 1 ? '' : ` in ${settings.rounds} interleaved rounds`;
  log(`\nthroughput run: ${loader.description}, ${settings.connections} connections, `
    + `${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s${rounds}; upstreams: ${fast.description}`);
  try {
    await throughputRounds(run, loader, fast.targets);
  } finally {
    await fast.stop();
  }

  // Run 2: added latency at a fixed rate over slow upstreams.
  const slow = await startDelayedUpstreams(workDir, settings.upstreamDelayMs, settings.bodyBytes);
  log(`\nlatency run: ${fixedRateLoaderDescription}, ${formatNumber(settings.latencyRate)} req/s over `
    + `${settings.latencyConnections} connections, ${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s${rounds}; `
    + `upstreams: ${slow.description}`);
  let latency: Map<Contender, LatencyTally>;
  try {
    latency = await latencyRounds(run, slow.targets);
  } finally {
    await slow.stop();
  }

  const directTally = [...latency].find(([contender]) => contender.name === 'direct')?.[1];
  for (const [contender, tally] of latency) {
    const figures = resultOf(contender).latency;
    if (figures === undefined || directTally === undefined || contender.name === 'direct') continue;
    figures.p99AddedPerRoundMs = addedOverDirect(tally, directTally);
    if (figures.p99AddedPerRoundMs.length > 0) figures.p99AddedMs = median(figures.p99AddedPerRoundMs);
  }

  return {
    benchmark: 'proxy',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadAverageAtStart,
      loadAverageAtEnd: loadavg(),
    },
    settings,
    throughputRun: { loader: loader.description, upstreams: fast.description },
    latencyRun: {
      loader: fixedRateLoaderDescription,
      upstreams: slow.description,
      rate: settings.latencyRate,
      connections: settings.latencyConnections,
    },
    notes,
    contenders: results,
    ...cpuComparisons(results),
  };
}

const RATIO_PAIRS: Array<[string, string]> = [
  ['switchboard', 'node-bare'],
  ['switchboard-pipeline', 'node-bare'],
  ['switchboard-pipeline', 'switchboard'],
  ['node-bare', 'nginx'],
  ['switchboard', 'nginx'],
  ['switchboard-pipeline', 'nginx'],
];

/** The CPU ratios the report prints, and the pipeline goal, from one run's contenders: at saturation and at the fixed rate. */
export function cpuComparisons(contenders: ContenderResult[]): { cpuRatios: CpuRatio[]; cpuRatiosAtRate: CpuRatio[]; pipelineGoal: PipelineGoal } {
  const cpuOf = (run: 'throughput' | 'latency') => (name: string): number | undefined => {
    const result = contenders.find((candidate) => candidate.name === name);
    // One that failed part-way through a run has figures from fewer rounds, on a different
    // stretch of the shared machine's time: no ratio from those.
    if (result === undefined || result.problems.some((problem) => problem.startsWith(`${run} run`))) return undefined;
    return result[run]?.proxyCpuUsPerRequest;
  };
  const ratios = (of: (name: string) => number | undefined): CpuRatio[] => RATIO_PAIRS.map(([contender, reference]) => {
    const value = of(contender);
    const base = of(reference);
    return { contender, reference, ratio: value !== undefined && base !== undefined && base > 0 ? value / base : undefined };
  });
  const cpuRatios = ratios(cpuOf('throughput'));
  const cpuRatiosAtRate = ratios(cpuOf('latency'));
  const pipeline = (list: CpuRatio[]) => list.find((pair) => pair.contender === 'switchboard-pipeline' && pair.reference === 'node-bare')!.ratio;
  const ratio = pipeline(cpuRatios);
  const ratioAtRate = pipeline(cpuRatiosAtRate);
  const judge = (value: number | undefined) => (value === undefined ? undefined : value <= PIPELINE_GOAL_RATIO);
  return { cpuRatios, cpuRatiosAtRate, pipelineGoal: { limit: PIPELINE_GOAL_RATIO, ratio, met: judge(ratio), ratioAtRate, metAtRate: judge(ratioAtRate) } };
}

/** The lines under the table: each ratio from the same run, then the goal met or missed. */
export function comparisonLines(results: Pick<ProxyBenchResults, 'cpuRatios' | 'cpuRatiosAtRate' | 'pipelineGoal'>): string[] {
  const lines: string[] = [];
  const list = (pairs: CpuRatio[] | undefined) => (pairs ?? []).filter((pair) => pair.ratio !== undefined).map((pair) => `${pair.contender} / ${pair.reference} ×${pair.ratio!.toFixed(2)}`).join(', ');
  const saturated = list(results.cpuRatios);
  const atRate = list(results.cpuRatiosAtRate);
  if (saturated) lines.push(`CPU per request, same run, at saturation: ${saturated}`);
  if (atRate) lines.push(`CPU per request, same run, at the latency run's fixed rate: ${atRate}`);
  const goal = results.pipelineGoal;
  const what = `issue 12 goal: full partner pipeline ≤ ${goal.limit}× the CPU per request of a bare node:http + undici proxy`;
  const verdict = (met: boolean | undefined, ratio: number | undefined, where: string) =>
    met === undefined ? `${where}: not judged (switchboard-pipeline and node-bare must both run to the end)` : `${where}: ${met ? 'MET' : 'MISSED'} (switchboard-pipeline / node-bare ×${ratio!.toFixed(2)})`;
  lines.push(`${what} — ${verdict(goal.met, goal.ratio, 'at saturation')}; ${verdict(goal.metAtRate, goal.ratioAtRate, 'at the fixed rate')}`);
  return lines;
}

/** One table, every figure next to its reference: req/s against direct, CPU against nginx and node-bare. */
export function proxyTable(results: ProxyBenchResults): string {
  const byName = (name: string): ContenderResult | undefined => results.contenders.find((result) => result.name === name);
  const directRate = byName('direct')?.throughput?.requestsPerSecond;
  const nginxCpu = byName('nginx')?.throughput?.proxyCpuUsPerRequest;
  const bareCpu = byName('node-bare')?.throughput?.proxyCpuUsPerRequest;
  const bareCpuAtRate = byName('node-bare')?.latency?.proxyCpuUsPerRequest;
  const rate = formatNumber(results.latencyRun.rate);
  const columns = [
    { header: 'contender', align: 'left' as const },
    { header: 'req/s' },
    { header: 'vs direct' },
    { header: 'p50 ms' },
    { header: 'p99 ms' },
    { header: 'CPU µs/req' },
    { header: 'vs nginx' },
    { header: 'vs node-bare' },
    { header: 'peak RSS MiB' },
    { header: `p50 @${rate}/s` },
    { header: `p99 @${rate}/s` },
    { header: 'p99 added ms' },
    { header: `CPU µs/req @${rate}/s` },
    { header: 'vs node-bare @rate' },
    { header: 'non-2xx/err' },
  ];
  const rows = results.contenders.map((result) => {
    const t = result.throughput;
    const l = result.latency;
    if (t === undefined && l === undefined) {
      return [result.name, ...columns.slice(1, -1).map(() => NOT_APPLICABLE), result.status];
    }
    const failures = (t ? t.non2xx + t.errors : 0) + (l ? l.non2xx + l.errors : 0);
    return [
      result.name,
      formatNumber(t?.requestsPerSecond),
      formatRatio(t?.requestsPerSecond, directRate),
      formatNumber(t?.p50Ms, 2),
      formatNumber(t?.p99Ms, 2),
      formatNumber(t?.proxyCpuUsPerRequest, 1),
      formatRatio(t?.proxyCpuUsPerRequest, nginxCpu),
      formatRatio(t?.proxyCpuUsPerRequest, bareCpu),
      formatMiB(t?.peakRssBytes),
      formatNumber(l?.p50Ms, 2),
      formatNumber(l?.p99Ms, 2),
      result.name === 'direct' ? '(reference)' : formatDelta(l?.p99AddedMs, 0),
      formatNumber(l?.proxyCpuUsPerRequest, 1),
      formatRatio(l?.proxyCpuUsPerRequest, bareCpuAtRate),
      String(failures),
    ];
  });
  return formatTable(columns, rows);
}

/**
 * Rounds in which the machine, not the proxy, set the latency: the client could not hold the
 * rate, or even direct (no proxy at all) answered far slower than the upstream's delay.
 */
function saturationWarnings(results: ProxyBenchResults): string[] {
  const { rate } = results.latencyRun;
  const delayMs = results.settings.upstreamDelayMs;
  const shortfalls = results.contenders.flatMap((result) => (result.latency?.ratePerRound ?? [])
    .map((achieved, index) => ({ name: result.name, achieved, index }))
    .filter(({ achieved }) => achieved < rate * 0.95));
  const slowDirect = (results.contenders.find((result) => result.name === 'direct')?.latency?.p50PerRoundMs ?? [])
    .map((p50, index) => ({ p50, index }))
    .filter(({ p50 }) => p50 > delayMs * 1.5);
  const warnings: string[] = [];
  if (shortfalls.length > 0) {
    warnings.push(`the load fell short of ${formatNumber(rate)} req/s in `
      + shortfalls.map(({ name, achieved, index }) => `${name} #${index + 1} (${formatNumber(achieved)})`).join(', ')
      + ': the machine was saturated then.');
  }
  if (slowDirect.length > 0) {
    warnings.push(`direct's p50 was over ${delayMs * 1.5} ms in round(s) `
      + slowDirect.map(({ p50, index }) => `#${index + 1} (${p50.toFixed(1)} ms)`).join(', ')
      + ': the machine was saturated then; compare those rounds with care.');
  }
  return warnings;
}

export async function runProxyBenchAndReport(settings: BenchSettings, workDir: string): Promise<void> {
  const results = await runProxyBench(settings, workDir);
  log(`\nproxy overhead — ${results.machine.cpus} cores (${results.machine.cpuModel}), `
    + `load average ${results.machine.loadAverageAtStart.map((value) => value.toFixed(2)).join(' ')} at start`);
  log(proxyTable(results));
  log('req/s, CPU: throughput run, summed over rounds (p50/p99: median of rounds). "@rate": latency run over '
    + `${settings.upstreamDelayMs} ms upstreams, median of rounds; p99 added = median over rounds of `
    + '(p99 − direct\'s p99 in the same round). direct = upstream 1 of 3, no proxy.');
  for (const line of comparisonLines(results)) log(line);
  for (const warning of saturationWarnings(results)) log(`warning: ${warning}`);
  for (const result of results.contenders) {
    for (const problem of result.problems) log(`${result.name}: ${problem.split('\n')[0]}`);
  }
  for (const file of writeResults('proxy', results)) log(`wrote ${file}`);
}
