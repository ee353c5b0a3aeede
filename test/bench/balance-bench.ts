/**
 * The balancing benchmark (issue 4, item 8): four simulated GPU workers, three fast and one three
 * times slower, 4 slots each; open-loop Poisson arrivals at 60% and 85% of the pool's capacity
 * against every Switchboard algorithm in turn, nginx `least_conn` and HAProxy `leastconn`; then
 * the same at 85% with a fast worker killed mid-run, health checks on.
 *
 * Processes: the workers (balance-workers.js), the balancer under test, and the load generator
 * (balance-arrivals.js) each have their own event loop; this process only orchestrates.
 *
 * Run: `npm run bench -- balance`, or directly `node dist/test/bench/balance-bench.js`.
 * Environment: BENCH_QUICK=1 (3 s per run), BENCH_BALANCE_SECONDS (default 6), BENCH_BALANCE_WARMUP (2),
 * BENCH_BALANCE_LOADS=0.6,0.85, BENCH_BALANCE_FAILURE_LOAD=0.85,
 * BENCH_BALANCE_CONTENDERS=round-robin,least-response-time,nginx,haproxy (default: all),
 * BENCH_BALANCE_FAILURE=0 (skip the failure scenario), BENCH_KEEP_TMP=1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ALGORITHMS, type Algorithm } from '../../spec/upstream.js';
import type { ArrivalAction, ArrivalOptions, ArrivalResult } from './balance-arrivals.js';
import {
  type HealthSettings, type PoolWorker, type RunningBalancer, type SwitchboardGateway,
  startHaproxyLeastConn, startNginxLeastConn, startSwitchboardGateway, switchboardConfig, switchboardWeights,
} from './balance-contenders.js';
import { checkGoal, failureTable, loadTable, writeBalanceResults, type BalanceResults, type BalanceRun } from './balance-report.js';
import type { BalanceWorkersOptions } from './balance-workers.js';
import type { GpuWorkerStats } from '../../gateway/src/simulator/gpu-worker.js';
import { armWatchdog, installChildCleanup, killAllChildrenNow, runToCompletion, startChild, readyOrStop } from './child-processes.js';
import { benchScript, nodeBinary } from './paths.js';
import { BENCH_HOST, freePorts, waitForHttpOk } from './ports.js';
import { cpuSecondsBetween, cpuSnapshot } from './proc-stats.js';
import { readBenchSettings, type BenchSettings } from './settings.js';
import { findTool } from './tools.js';

/** The pool: three GPUs at 1× and one at 3× service time — an older card, or a sick one. */
const SPEEDS = [1, 1, 1, 3];
const WORKER_NAMES = ['fast1', 'fast2', 'fast3', 'slow'];
const SLOW_WORKER = 'slow';
const SLOTS = 4;
const PREFILL_MS = 20;
const TOKEN_MS = 5;
const MAX_TOKENS = 8;
/** Big enough that no worker ever refuses: an overloaded worker shows as latency, not as 503s. */
const MAX_QUEUE = 100_000;
/** Above any concurrency the load reaches, so the client's pool never queues requests itself. */
const CLIENT_CONNECTIONS = 1024;
const REQUEST_TIMEOUT_MS = 90_000;
/** Round robin at 85% piles up a backlog on the slow worker that takes a while to serve. */
const DRAIN_TIMEOUT_MS = 90_000;
const SEED = 20240611;
/** The failure scenario kills this worker (fast1) this far into the measured window. */
const KILLED_WORKER = 0;
const KILL_AT_SHARE = 0.4;
const HEALTH: HealthSettings = { consecutiveFailures: 2, ejectMs: 5000, activeIntervalMs: 500, threshold: 2 };
const REQUEST_BODY = JSON.stringify({ model: 'sim-llm', prompt: 'Say hello to the balancer.', max_tokens: MAX_TOKENS });

export interface BalanceSettings {
  quick: boolean;
  warmupSeconds: number;
  seconds: number;
  loads: number[];
  failureLoad: number;
  failureScenario: boolean;
  contenders: string[];
}

interface ContenderSpec {
  /** Name in the table and in BENCH_BALANCE_CONTENDERS (the algorithm, `nginx`, `haproxy`). */
  key: string;
  label: string;
  description: string;
  algorithm?: Algorithm;
  start?: (workDir: string, workers: PoolWorker[], health: HealthSettings | undefined) => Promise<RunningBalancer>;
}

const CONTENDERS: ContenderSpec[] = [
  ...ALGORITHMS.map((algorithm): ContenderSpec => ({
    key: algorithm,
    label: `switchboard ${algorithm}`,
    algorithm,
    description: algorithm === 'weighted-round-robin'
      ? 'Switchboard, weights 3:3:3:1 (the operator knows the slow GPU)'
      : algorithm === 'ip-hash'
        ? 'Switchboard, trusts 127.0.0.1 for x-forwarded-for; the client sends random addresses'
        : algorithm === 'consistent-hash'
          ? 'Switchboard, hashOn header x-session-id; the client sends random session ids'
          : `Switchboard, all weights 1`,
  })),
  { key: 'nginx', label: 'nginx least_conn', description: 'nginx, 1 worker, least_conn, keepalive 256', start: startNginxLeastConn },
  { key: 'haproxy', label: 'haproxy leastconn', description: 'HAProxy, nbthread 1, leastconn, http-reuse always', start: startHaproxyLeastConn },
];

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${raw} is not a positive number`);
  return value;
}

export function readBalanceSettings(bench: BenchSettings = readBenchSettings()): BalanceSettings {
  const loadsRaw = process.env.BENCH_BALANCE_LOADS;
  const loads = loadsRaw ? loadsRaw.split(',').map((entry) => Number(entry.trim())) : [0.6, 0.85];
  if (loads.some((load) => !Number.isFinite(load) || load <= 0 || load > 2)) throw new Error(`BENCH_BALANCE_LOADS=${loadsRaw}: shares of capacity such as 0.6,0.85`);
  const known = CONTENDERS.map((contender) => contender.key);
  const wanted = (process.env.BENCH_BALANCE_CONTENDERS ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  const unknown = wanted.filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new Error(`BENCH_BALANCE_CONTENDERS: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return {
    quick: bench.quick,
    warmupSeconds: numberFromEnv('BENCH_BALANCE_WARMUP', bench.quick ? 1 : 2),
    // 6 s keeps the whole run (33 runs, round robin's backlog drained after each) under 8 minutes.
    seconds: numberFromEnv('BENCH_BALANCE_SECONDS', bench.quick ? 3 : 6),
    loads,
    failureLoad: numberFromEnv('BENCH_BALANCE_FAILURE_LOAD', 0.85),
    failureScenario: process.env.BENCH_BALANCE_FAILURE !== '0',
    contenders: wanted.length > 0 ? wanted : known,
  };
}

function serviceMs(speed: number): number {
  return (PREFILL_MS + MAX_TOKENS * TOKEN_MS) * speed;
}

/** Requests per second the pool completes when every slot is busy: Σ slots / service time. */
export const CAPACITY_PER_SECOND = SPEEDS.reduce((sum, speed) => sum + (SLOTS * 1000) / serviceMs(speed), 0);

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The worker pool's process, with its control listener (balance-workers.ts). */
interface WorkerPool {
  workers: PoolWorker[];
  controlUrl: string;
  stats(): Promise<GpuWorkerStats[]>;
  /** Waits until no worker has a request running or queued (the previous run's backlog). */
  idle(timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

async function startWorkerPool(workDir: string): Promise<WorkerPool> {
  const [controlPort, ...ports] = await freePorts(SPEEDS.length + 1);
  const workers = ports.map((port, index) => ({ name: WORKER_NAMES[index]!, host: BENCH_HOST, port }));
  const options: BalanceWorkersOptions = {
    workers: workers.map((worker, index) => ({ name: worker.name, port: worker.port, speed: SPEEDS[index]! })),
    controlPort: controlPort!,
    host: BENCH_HOST,
    slots: SLOTS,
    prefillMs: PREFILL_MS,
    tokenMs: TOKEN_MS,
    maxQueue: MAX_QUEUE,
  };
  const child = startChild('gpu workers', nodeBinary, [benchScript('balance-workers.js'), JSON.stringify(options)], { cwd: workDir });
  const controlUrl = `http://${BENCH_HOST}:${controlPort}`;
  await readyOrStop(child, () => waitForHttpOk(`${controlUrl}/stats`, 15_000, child));
  const stats = async (): Promise<GpuWorkerStats[]> => {
    const response = await fetch(`${controlUrl}/stats`, { signal: AbortSignal.timeout(5000) });
    return (await response.json()) as GpuWorkerStats[];
  };
  return {
    workers,
    controlUrl,
    stats,
    async idle(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const all = await stats();
        if (all.every((worker) => worker.running === 0 && worker.waiting === 0)) return true;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      return false;
    },
    stop: () => child.stop(),
  };
}

async function runArrivals(url: string, rate: number, settings: BalanceSettings, actions: ArrivalAction[]): Promise<ArrivalResult> {
  const options: ArrivalOptions = {
    url,
    rate,
    warmupSeconds: settings.warmupSeconds,
    seconds: settings.seconds,
    connections: CLIENT_CONNECTIONS,
    body: REQUEST_BODY,
    seed: SEED,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    drainTimeoutMs: DRAIN_TIMEOUT_MS,
    actions,
  };
  const limitMs = (settings.warmupSeconds + settings.seconds) * 1000 + DRAIN_TIMEOUT_MS + 15_000;
  const done = await runToCompletion('poisson client', nodeBinary, [benchScript('balance-arrivals.js'), JSON.stringify(options)], limitMs);
  const line = done.stdout.trim().split('\n').at(-1) ?? '';
  if (done.code !== 0 || !line.startsWith('{')) {
    throw new Error(`load generator ${done.timedOut ? 'timed out' : `exited ${done.code}`}:\n${done.output}`);
  }
  return JSON.parse(line) as ArrivalResult;
}

function requestDeltas(before: GpuWorkerStats[], after: GpuWorkerStats[]): Record<string, number> {
  return Object.fromEntries(after.map((worker, index) => [worker.name, worker.requests - (before[index]?.requests ?? 0)]));
}

function slowShareOf(arrivals: ArrivalResult): number | undefined {
  const answered = Object.values(arrivals.byWorker).reduce((sum, count) => sum + count, 0);
  return answered > 0 ? (arrivals.byWorker[SLOW_WORKER] ?? 0) / answered : undefined;
}

function summaryLine(run: BalanceRun): string {
  const a = run.arrivals;
  if (a === undefined) return `  ${run.contender}: ${run.status}${run.problem ? ` — ${run.problem.split('\n')[0]}` : ''}`;
  const failed = a.non2xx + a.errors;
  const share = run.slowShare === undefined ? '' : `, slow worker ${(run.slowShare * 100).toFixed(1)}%`;
  return `  ${run.contender}: p50 ${a.p50Ms.toFixed(1)} ms, p99 ${a.p99Ms.toFixed(1)} ms, ${a.goodputPerSecond.toFixed(1)} ok/s, ${failed} failed${share}`;
}

interface Measured {
  arrivals: ArrivalResult;
  workerRequests: Record<string, number>;
  cpuMsPerRequest: number | undefined;
}

/** One contender, already running, under one load; CPU of its process group is taken around it. */
async function measure(balancer: RunningBalancer, pool: WorkerPool, rate: number, settings: BalanceSettings, actions: ArrivalAction[]): Promise<Measured> {
  const before = await pool.stats();
  const cpuBefore = cpuSnapshot(balancer.pgid);
  const arrivals = await runArrivals(balancer.url, rate, settings, actions);
  const cpuSeconds = cpuSecondsBetween(cpuBefore, cpuSnapshot(balancer.pgid));
  const after = await pool.stats();
  const answered = arrivals.ok + arrivals.non2xx;
  // The window is a part of the run (warm-up, drain): CPU per request over everything the run sent.
  const sent = Object.values(requestDeltas(before, after)).reduce((sum, count) => sum + count, 0);
  return {
    arrivals,
    workerRequests: requestDeltas(before, after),
    cpuMsPerRequest: answered > 0 && sent > 0 ? (cpuSeconds * 1000) / sent : undefined,
  };
}

function unavailable(spec: ContenderSpec): string | undefined {
  if (spec.key === 'nginx' && findTool('nginx') === undefined) return 'nginx not installed (apt-get install -y nginx)';
  if (spec.key === 'haproxy' && findTool('haproxy') === undefined) return 'haproxy not installed (apt-get install -y haproxy)';
  return undefined;
}

async function loadScenario(
  workDir: string,
  settings: BalanceSettings,
  specs: ContenderSpec[],
  gateway: () => Promise<SwitchboardGateway>,
  runs: BalanceRun[],
): Promise<void> {
  const pool = await startWorkerPool(workDir);
  try {
    for (const loadShare of settings.loads) {
      const rate = CAPACITY_PER_SECOND * loadShare;
      log(`\nload ${Math.round(loadShare * 100)}% of capacity: ${rate.toFixed(1)} req/s Poisson, ${settings.warmupSeconds} s warm-up + ${settings.seconds} s measured`);
      for (const spec of specs) {
        const run: BalanceRun = { scenario: 'load', loadShare, ratePerSecond: rate, contender: spec.label, description: spec.description, status: 'ran' };
        runs.push(run);
        const missing = unavailable(spec);
        if (missing !== undefined) {
          Object.assign(run, { status: 'skipped', problem: missing });
          log(summaryLine(run));
          continue;
        }
        let balancer: RunningBalancer | undefined;
        try {
          if (!(await pool.idle(DRAIN_TIMEOUT_MS))) throw new Error('the workers still had a backlog from the previous run');
          if (spec.algorithm !== undefined) {
            const switchboard = await gateway();
            await switchboard.apply(switchboardConfig(spec.algorithm, pool.workers, switchboardWeights(spec.algorithm, pool.workers, SPEEDS), undefined));
            balancer = switchboard;
          } else {
            balancer = await spec.start!(workDir, pool.workers, undefined);
          }
          const measured = await measure(balancer, pool, rate, settings, []);
          Object.assign(run, measured, { slowShare: slowShareOf(measured.arrivals) });
        } catch (error) {
          Object.assign(run, { status: 'failed', problem: messageOf(error) });
        } finally {
          if (spec.algorithm === undefined) await balancer?.stop();
        }
        log(summaryLine(run));
      }
    }
  } finally {
    await pool.stop();
  }
}

/**
 * A fast worker dies (connections dropped, then refused) 40% into the window and stays dead.
 * Each contender gets a fresh worker process on fresh ports, so no health state (ejections that
 * double, EWMA latencies) carries over from the previous contender's kill.
 */
async function failureScenario(
  workDir: string,
  settings: BalanceSettings,
  specs: ContenderSpec[],
  gateway: () => Promise<SwitchboardGateway>,
  runs: BalanceRun[],
): Promise<void> {
  const loadShare = settings.failureLoad;
  const rate = CAPACITY_PER_SECOND * loadShare;
  const killAt = settings.seconds * KILL_AT_SHARE;
  const remaining = CAPACITY_PER_SECOND - (SLOTS * 1000) / serviceMs(SPEEDS[KILLED_WORKER]!);
  log(`\nfailure: ${rate.toFixed(1)} req/s (${Math.round(loadShare * 100)}% of capacity), ${WORKER_NAMES[KILLED_WORKER]} killed ${killAt.toFixed(1)} s into the window;`
    + ` the survivors can serve ${remaining.toFixed(1)} req/s (${Math.round((rate / remaining) * 100)}% load on them)`);
  for (const spec of specs) {
    const run: BalanceRun = { scenario: 'failure', loadShare, ratePerSecond: rate, contender: spec.label, description: spec.description, status: 'ran' };
    runs.push(run);
    const missing = unavailable(spec);
    if (missing !== undefined) {
      Object.assign(run, { status: 'skipped', problem: missing });
      log(summaryLine(run));
      continue;
    }
    let pool: WorkerPool | undefined;
    let balancer: RunningBalancer | undefined;
    try {
      pool = await startWorkerPool(workDir);
      if (spec.algorithm !== undefined) {
        const switchboard = await gateway();
        await switchboard.apply(switchboardConfig(spec.algorithm, pool.workers, switchboardWeights(spec.algorithm, pool.workers, SPEEDS), HEALTH));
        balancer = switchboard;
      } else {
        balancer = await spec.start!(workDir, pool.workers, HEALTH);
      }
      const kill: ArrivalAction = { atSeconds: killAt, method: 'POST', url: `${pool.controlUrl}/kill/${KILLED_WORKER}`, label: `kill ${WORKER_NAMES[KILLED_WORKER]}` };
      const measured = await measure(balancer, pool, rate, settings, [kill]);
      Object.assign(run, measured, { slowShare: slowShareOf(measured.arrivals) });
      if (!measured.arrivals.actions.some((action) => action.status === 200)) throw new Error(`the kill did not happen: ${JSON.stringify(measured.arrivals.actions)}`);
    } catch (error) {
      Object.assign(run, { status: 'failed', problem: messageOf(error) });
    } finally {
      if (spec.algorithm === undefined) await balancer?.stop();
      await pool?.stop();
    }
    log(summaryLine(run));
  }
}

export async function runBalanceBench(bench: BenchSettings, workDir: string): Promise<BalanceResults> {
  const settings = readBalanceSettings(bench);
  const specs = CONTENDERS.filter((spec) => settings.contenders.includes(spec.key));
  const startedAt = new Date().toISOString();
  const loadAverageAtStart = loadavg();
  log(`balance: ${SPEEDS.length} simulated GPU workers (speeds ${SPEEDS.join(',')}), ${SLOTS} slots each, `
    + `service ${serviceMs(1)} ms at 1× (prefill ${PREFILL_MS} + ${MAX_TOKENS} tokens × ${TOKEN_MS} ms); capacity ${CAPACITY_PER_SECOND.toFixed(1)} req/s`);

  // The gateway starts lazily (only if a Switchboard contender runs) and serves every algorithm.
  let started: SwitchboardGateway | undefined;
  const gateway = async (): Promise<SwitchboardGateway> => {
    if (started === undefined) {
      started = await startSwitchboardGateway(workDir, switchboardConfig('round-robin', [{ name: 'none', host: BENCH_HOST, port: 9 }], [1], undefined));
    }
    return started;
  };

  const runs: BalanceRun[] = [];
  try {
    await loadScenario(workDir, settings, specs, gateway, runs);
    if (settings.failureScenario) await failureScenario(workDir, settings, specs, gateway, runs);
  } finally {
    await started?.stop();
  }

  const goalLoad = settings.loads.includes(0.85) ? 0.85 : Math.max(...settings.loads);
  const goal = checkGoal(runs, goalLoad);
  const notes = [
    `capacity ${CAPACITY_PER_SECOND.toFixed(1)} req/s; the slow worker is ${(((SLOTS * 1000) / serviceMs(3)) / CAPACITY_PER_SECOND * 100).toFixed(1)}% of it,`
      + ' so an even split (25%) overloads it at any load above 40%',
    'latency is from each request\'s scheduled send time (open loop); "to slow" = share of answers from the slow worker (x-worker header)',
    'errors = non-2xx answers + requests without an answer; cpu ms/req = the balancer\'s process-group CPU over the whole run',
    'weighted-round-robin runs with weights 3:3:3:1 (an operator who knows which GPU is slow); every other contender has all weights 1',
    'ip-hash and consistent-hash see a random client address / session id per request, so they spread like random',
    'an even split gives the slow worker more than it can serve, so its queue grows for the whole run: round robin\'s p99 grows'
      + ' with the run\'s length and any ratio to it does too; nginx and HAProxy are the comparison that holds still',
  ];
  const survivors = CAPACITY_PER_SECOND - (SLOTS * 1000) / serviceMs(SPEEDS[KILLED_WORKER]!);
  if (settings.failureScenario && CAPACITY_PER_SECOND * settings.failureLoad > survivors) {
    notes.push(`failure scenario: after the kill the offered load is ${Math.round((CAPACITY_PER_SECOND * settings.failureLoad / survivors) * 100)}% of what`
      + ' the survivors can serve, so queues grow everywhere and its p99 mostly measures that overload; its errors column is the'
      + ' health-check figure (BENCH_BALANCE_FAILURE_LOAD=0.6 runs it without overload)');
  }
  const results: BalanceResults = {
    benchmark: 'balance',
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', node: process.version, loadAverageAtStart, loadAverageAtEnd: loadavg() },
    setup: {
      speeds: SPEEDS, workers: WORKER_NAMES, slots: SLOTS, prefillMs: PREFILL_MS, tokenMs: TOKEN_MS, maxTokens: MAX_TOKENS,
      maxQueue: MAX_QUEUE, capacityPerSecond: CAPACITY_PER_SECOND, clientConnections: CLIENT_CONNECTIONS, seed: SEED,
      health: HEALTH, killedWorker: WORKER_NAMES[KILLED_WORKER], killAtSeconds: settings.seconds * KILL_AT_SHARE, settings,
    },
    notes,
    runs,
    goal,
  };
  return results;
}

export function printBalanceResults(results: BalanceResults): void {
  const settings = results.setup.settings as BalanceSettings;
  for (const loadShare of settings.loads) {
    const runs = results.runs.filter((run) => run.scenario === 'load' && run.loadShare === loadShare);
    log(`\n== load ${Math.round(loadShare * 100)}% of capacity (${(runs[0]?.ratePerSecond ?? 0).toFixed(1)} req/s), ${settings.seconds} s measured ==`);
    log(loadTable(runs));
  }
  const failures = results.runs.filter((run) => run.scenario === 'failure');
  if (failures.length > 0) {
    const killAt = results.setup.killAtSeconds as number;
    log(`\n== failure: ${Math.round(settings.failureLoad * 100)}% load, ${results.setup.killedWorker} killed at ${killAt.toFixed(1)} s of ${settings.seconds} s; health: `
      + `Switchboard passive ${HEALTH.consecutiveFailures} failures/${HEALTH.ejectMs} ms + active http ${HEALTH.activeIntervalMs} ms, `
      + `nginx max_fails=${HEALTH.consecutiveFailures} fail_timeout=${HEALTH.ejectMs / 1000}s, HAProxy check inter ${HEALTH.activeIntervalMs} fall ${HEALTH.threshold} ==`);
    log(failureTable(failures, killAt));
  }
  log('');
  for (const note of results.notes) log(`note: ${note}`);
  log('');
  for (const line of results.goal.lines) log(line);
  for (const run of results.runs) {
    if (run.status === 'failed') log(`failed: ${run.scenario} ${run.contender}: ${run.problem}`);
    if (run.arrivals && run.arrivals.maxSendLagMs > 50) {
      log(`warning: ${run.scenario} ${run.contender}: the client sent up to ${run.arrivals.maxSendLagMs.toFixed(0)} ms late (machine busy); that lag is in the latencies`);
    }
  }
}

/** For run.ts: `balance: balanceBenchmark` in its table of benchmarks. */
export const balanceBenchmark = {
  summary: 'balancing: every algorithm vs nginx least_conn vs HAProxy leastconn on uneven GPU workers, Poisson load, a worker dying',
  budgetSeconds(bench: BenchSettings): number {
    const settings = readBalanceSettings(bench);
    const contenders = settings.contenders.length;
    const runCount = contenders * (settings.loads.length + (settings.failureScenario ? 1 : 0));
    // Generous: the watchdog is for hangs; a normal run is far below (round robin's drain is the long part).
    return runCount * (settings.warmupSeconds + settings.seconds + 25) + DRAIN_TIMEOUT_MS / 1000 + 120;
  },
  async run(bench: BenchSettings, workDir: string): Promise<void> {
    const results = await runBalanceBench(bench, workDir);
    printBalanceResults(results);
    const files = writeBalanceResults(results);
    log(`\nwrote ${files.join(' and ')}`);
  },
};

/** `node dist/test/bench/balance-bench.js` — the same as `npm run bench -- balance`. */
async function runDirectly(): Promise<number> {
  const bench = readBenchSettings();
  installChildCleanup();
  const workDir = mkdtempSync(join(tmpdir(), 'switchboard-balance-'));
  process.on('exit', () => {
    if (process.env.BENCH_KEEP_TMP === '1') process.stdout.write(`kept ${workDir}\n`);
    else rmSync(workDir, { recursive: true, force: true });
  });
  armWatchdog(balanceBenchmark.budgetSeconds(bench) * 1000);
  try {
    await balanceBenchmark.run(bench, workDir);
    return 0;
  } finally {
    killAllChildrenNow();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runDirectly().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`bench balance: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
