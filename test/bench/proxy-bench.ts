import { cpus, loadavg } from 'node:os';
import { allContenders, type Contender, type RunningContender } from './contenders.js';
import { chooseThroughputLoader, fixedRateLoaderDescription, runFixedRate, type LoadResult, type ThroughputLoader } from './load.js';
import { cpuSecondsBetween, cpuSnapshot, groupMemory } from './proc-stats.js';
import {
  formatDelta, formatMiB, formatNumber, formatRatio, formatTable, NOT_APPLICABLE, writeResults,
} from './report.js';
import type { BenchSettings } from './settings.js';
import { startDelayedUpstreams, startFastUpstreams, type Target } from './upstreams.js';

/**
 * The proxy-overhead benchmark: the same three upstreams behind each contender in turn, first
 * at full speed (what one core of proxy can do, and what each request costs it), then at a
 * fixed rate over slow upstreams (what the proxy adds to the latency a client sees).
 */

export interface ThroughputFigures extends LoadResult {
  /** User + system CPU of the proxy's process group during the measured window. */
  proxyCpuSeconds?: number;
  proxyCpuUsPerRequest?: number;
  peakRssBytes?: number;
}

export interface LatencyFigures extends LoadResult {
  /** p99 minus direct's p99 in the same run. */
  p99AddedMs?: number;
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
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function withContender<T>(
  contender: Contender,
  workDir: string,
  targets: Target[],
  measure: (running: RunningContender) => Promise<T>,
): Promise<T> {
  const running = await contender.start(workDir, targets);
  try {
    return await measure(running);
  } finally {
    await running.stop();
  }
}

async function measureThroughput(
  contender: Contender,
  workDir: string,
  targets: Target[],
  loader: ThroughputLoader,
  settings: BenchSettings,
): Promise<ThroughputFigures> {
  return withContender(contender, workDir, targets, async (running) => {
    await loader.run(running.url, settings.connections, settings.warmupSeconds);
    const pgid = running.pgid;
    const before = pgid === undefined ? undefined : cpuSnapshot(pgid);
    const load = await loader.run(running.url, settings.connections, settings.durationSeconds);
    if (pgid === undefined || before === undefined) return load;
    const proxyCpuSeconds = cpuSecondsBetween(before, cpuSnapshot(pgid));
    return {
      ...load,
      proxyCpuSeconds,
      proxyCpuUsPerRequest: load.requests > 0 ? (proxyCpuSeconds * 1e6) / load.requests : undefined,
      // Read before stop(): VmHWM is the peak over the process's whole life, warm-up included.
      peakRssBytes: groupMemory(pgid).peakRssBytes,
    };
  });
}

async function measureLatency(
  contender: Contender,
  workDir: string,
  targets: Target[],
  settings: BenchSettings,
): Promise<LoadResult> {
  return withContender(contender, workDir, targets, (running) => runFixedRate(
    running.url, settings.latencyRate, settings.latencyConnections, settings.warmupSeconds, settings.durationSeconds,
  ));
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
  const runnable = (): Array<[Contender, ContenderResult]> => results
    .filter((result) => result.status === 'ran')
    .map((result) => [allContenders.find((contender) => contender.name === result.name)!, result]);

  const { loader, notes: loaderNotes } = chooseThroughputLoader(settings.loader, workDir);
  notes.push(...loaderNotes);
  for (const note of notes) log(`note: ${note}`);

  // Run 1: throughput and CPU per request over the fast upstreams.
  const fast = await startFastUpstreams(workDir, settings.bodyBytes);
  notes.push(...fast.notes);
  for (const note of fast.notes) log(`note: ${note}`);
  log(`\nthroughput run: ${loader.description}, ${settings.connections} connections, `
    + `${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s; upstreams: ${fast.description}`);
  try {
    for (const [contender, result] of runnable()) {
      try {
        result.throughput = await measureThroughput(contender, workDir, fast.targets, loader, settings);
        const cpu = result.throughput.proxyCpuUsPerRequest;
        log(`  ${contender.name.padEnd(12)} ${describeLoad(result.throughput)}`
          + (cpu === undefined ? '' : `, proxy CPU ${cpu.toFixed(1)} µs/req`));
      } catch (error) {
        result.status = 'failed';
        result.problems.push(`throughput run: ${messageOf(error)}`);
        log(`  ${contender.name.padEnd(12)} failed: ${messageOf(error)}`);
      }
    }
  } finally {
    await fast.stop();
  }

  // Run 2: added latency at a fixed rate over slow upstreams.
  const slow = await startDelayedUpstreams(workDir, settings.upstreamDelayMs, settings.bodyBytes);
  log(`\nlatency run: ${fixedRateLoaderDescription}, ${formatNumber(settings.latencyRate)} req/s over `
    + `${settings.latencyConnections} connections, ${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s; `
    + `upstreams: ${slow.description}`);
  try {
    for (const [contender, result] of runnable()) {
      try {
        result.latency = await measureLatency(contender, workDir, slow.targets, settings);
        log(`  ${contender.name.padEnd(12)} ${describeLoad(result.latency)}`);
      } catch (error) {
        result.status = 'failed';
        result.problems.push(`latency run: ${messageOf(error)}`);
        log(`  ${contender.name.padEnd(12)} failed: ${messageOf(error)}`);
      }
    }
  } finally {
    await slow.stop();
  }

  const directP99 = results.find((result) => result.name === 'direct')?.latency?.p99Ms;
  for (const result of results) {
    if (result.latency !== undefined && directP99 !== undefined && result.name !== 'direct') {
      result.latency.p99AddedMs = result.latency.p99Ms - directP99;
    }
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
  };
}

/** One table, every figure next to its reference: req/s against direct, CPU against nginx. */
export function proxyTable(results: ProxyBenchResults): string {
  const byName = (name: string): ContenderResult | undefined => results.contenders.find((result) => result.name === name);
  const directRate = byName('direct')?.throughput?.requestsPerSecond;
  const nginxCpu = byName('nginx')?.throughput?.proxyCpuUsPerRequest;
  const rate = formatNumber(results.latencyRun.rate);
  const columns = [
    { header: 'contender', align: 'left' as const },
    { header: 'req/s' },
    { header: 'vs direct' },
    { header: 'p50 ms' },
    { header: 'p99 ms' },
    { header: 'CPU µs/req' },
    { header: 'vs nginx' },
    { header: 'peak RSS MiB' },
    { header: `p50 @${rate}/s` },
    { header: `p99 @${rate}/s` },
    { header: 'p99 added ms' },
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
      formatMiB(t?.peakRssBytes),
      formatNumber(l?.p50Ms, 2),
      formatNumber(l?.p99Ms, 2),
      result.name === 'direct' ? '(reference)' : formatDelta(l?.p99AddedMs, 0),
      String(failures),
    ];
  });
  return formatTable(columns, rows);
}

export async function runProxyBenchAndReport(settings: BenchSettings, workDir: string): Promise<void> {
  const results = await runProxyBench(settings, workDir);
  log(`\nproxy overhead — ${results.machine.cpus} cores (${results.machine.cpuModel}), `
    + `load average ${results.machine.loadAverageAtStart.map((value) => value.toFixed(2)).join(' ')} at start`);
  log(proxyTable(results));
  log('req/s and CPU: throughput run; "@rate" columns: latency run over '
    + `${settings.upstreamDelayMs} ms upstreams; direct = upstream 1 of 3, no proxy.`);
  for (const result of results.contenders) {
    for (const problem of result.problems) log(`${result.name}: ${problem.split('\n')[0]}`);
  }
  for (const file of writeResults('proxy', results)) log(`wrote ${file}`);
}
