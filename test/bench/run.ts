/**
 * `npm run bench [-- proxy|balance|routes|inference|tcp|tls|tracing|workers|all]` — the benchmarks (all by default). Each one prints a table and writes
 * test/bench/results/<name>-<timestamp>.json and <name>-latest.json. Everything runs on
 * 127.0.0.1, stops by itself, and kills every process it started, also on Ctrl-C.
 *
 * Environment: BENCH_QUICK=1 (smoke test, ~2 s per measurement), BENCH_DURATION, BENCH_WARMUP,
 * BENCH_ROUNDS, BENCH_CONNECTIONS, BENCH_RATE, BENCH_LATENCY_CONNECTIONS, BENCH_DELAY_MS,
 * BENCH_LOADER=wrk|autocannon, BENCH_CONTENDERS=node-bare,nginx,haproxy,switchboard,switchboard-pipeline, BENCH_KEEP_TMP=1,
 * BENCH_WITHOUT=nginx,haproxy,wrk (act as if not installed, to try the fallbacks),
 * BENCH_ROUTES=10,10000,50000 (route counts of the routes benchmark).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allContenders } from './contenders.js';
import { armWatchdog, installChildCleanup, killAllChildrenNow } from './child-processes.js';
import { runProxyBenchAndReport } from './proxy-bench.js';
import { balanceBenchmark } from './balance-bench.js';
import { routesBenchmark } from './routes-bench.js';
import { inferenceBenchmark } from './inference-bench.js';
import { tcpBenchmark } from './tcp-bench.js';
import { tlsBenchmark } from './tls-bench.js';
import { tracingBenchmark } from './tracing-bench.js';
import { workersBenchmark } from './workers-bench.js';
import { readBenchSettings, type BenchSettings } from './settings.js';

/** wrk rounds each window up to a whole second; the budget allows for it. */
const WRK_WHOLE_SECOND = 1;

interface Benchmark {
  summary: string;
  /** Upper bound on its running time, for the watchdog. */
  budgetSeconds(settings: BenchSettings): number;
  run(settings: BenchSettings, workDir: string): Promise<void>;
}

const benchmarks: Record<string, Benchmark> = {
  proxy: {
    summary: 'proxy overhead: direct vs a bare node:http + undici proxy vs nginx vs HAProxy vs Switchboard (plain and full partner pipeline), req/s, CPU per request, added p99',
    // Two measurements per contender plus generous start-up and shutdown time each.
    budgetSeconds: (settings) => allContenders.length * 2
      * (settings.warmupSeconds + settings.durationSeconds + settings.rounds * (WRK_WHOLE_SECOND + 5) + 45) + 60,
    run: runProxyBenchAndReport,
  },
  balance: balanceBenchmark,
  routes: routesBenchmark,
  inference: inferenceBenchmark,
  tcp: tcpBenchmark,
  tls: tlsBenchmark,
  tracing: tracingBenchmark,
  workers: workersBenchmark,
};

function usage(): string {
  const lines = Object.entries(benchmarks).map(([name, benchmark]) => `  ${name.padEnd(8)} ${benchmark.summary}`);
  return ['usage: npm run bench [-- <benchmark>|all]   (default: all)', ...lines].join('\n');
}

async function main(): Promise<number> {
  const requested = process.argv[2] ?? 'all';
  if (requested === '--help' || requested === '-h') {
    process.stdout.write(`${usage()}\n`);
    return 0;
  }
  const names = requested === 'all' ? Object.keys(benchmarks) : [requested];
  const unknown = names.filter((name) => benchmarks[name] === undefined);
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')}\n${usage()}\n`);
    return 2;
  }

  const settings = readBenchSettings();
  installChildCleanup();
  const workDir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  // On 'exit' so that Ctrl-C and the watchdog, which end the process from a handler, clean up
  // too; the children are killed first (that listener was installed earlier).
  process.on('exit', () => {
    if (process.env.BENCH_KEEP_TMP === '1') process.stdout.write(`kept ${workDir}\n`);
    else rmSync(workDir, { recursive: true, force: true });
  });
  armWatchdog(names.reduce((total, name) => total + benchmarks[name]!.budgetSeconds(settings), 0) * 1000);
  try {
    for (const name of names) await benchmarks[name]!.run(settings, workDir);
    return 0;
  } finally {
    killAllChildrenNow();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
    process.exit(1);
  },
);
