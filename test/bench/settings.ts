/**
 * Every knob of a bench run, read once from the environment so that all contenders in one run
 * get exactly the same load. `BENCH_QUICK=1` is a smoke test: numbers from it are not worth
 * comparing, it only proves the harness works end to end.
 */
export interface BenchSettings {
  quick: boolean;
  /** Load before the measured window, discarded: fills connection pools and warms the JIT. */
  warmupSeconds: number;
  /** Length of every measured window. */
  durationSeconds: number;
  /**
   * The measured time of each contender is split into this many rounds, run in turn
   * (direct, nginx, haproxy, switchboard, direct, …), so a burst of load from whoever else
   * shares the machine falls on every contender alike instead of on one.
   */
  rounds: number;
  /** Concurrent client connections in the throughput run. */
  connections: number;
  /** Fixed request rate of the latency run, requests per second over all connections. */
  latencyRate: number;
  latencyConnections: number;
  /** How long the slow upstreams of the latency run wait before answering. */
  upstreamDelayMs: number;
  /** Size of the fixed body every upstream answers with. */
  bodyBytes: number;
  /** `wrk`, `autocannon`, or undefined = wrk when installed. */
  loader: 'wrk' | 'autocannon' | undefined;
  /** Contender names to run (`BENCH_CONTENDERS=nginx,haproxy`); undefined = all. */
  contenders: string[] | undefined;
}

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name}=${raw} is not a positive number`);
  }
  return value;
}

export function readBenchSettings(): BenchSettings {
  const quick = process.env.BENCH_QUICK === '1' || process.env.BENCH_QUICK === 'true';
  const loaderRaw = process.env.BENCH_LOADER;
  if (loaderRaw !== undefined && loaderRaw !== '' && loaderRaw !== 'wrk' && loaderRaw !== 'autocannon') {
    throw new Error(`BENCH_LOADER=${loaderRaw}: expected wrk or autocannon`);
  }
  const contendersRaw = process.env.BENCH_CONTENDERS;
  return {
    quick,
    warmupSeconds: numberFromEnv('BENCH_WARMUP', quick ? 1 : 2),
    durationSeconds: numberFromEnv('BENCH_DURATION', quick ? 2 : 8),
    rounds: Math.round(numberFromEnv('BENCH_ROUNDS', quick ? 1 : 4)),
    connections: Math.round(numberFromEnv('BENCH_CONNECTIONS', 64)),
    latencyRate: numberFromEnv('BENCH_RATE', 3000),
    latencyConnections: Math.round(numberFromEnv('BENCH_LATENCY_CONNECTIONS', 100)),
    upstreamDelayMs: numberFromEnv('BENCH_DELAY_MS', 20),
    bodyBytes: 200,
    loader: loaderRaw === 'wrk' || loaderRaw === 'autocannon' ? loaderRaw : undefined,
    contenders: contendersRaw
      ? contendersRaw.split(',').map((name) => name.trim()).filter((name) => name !== '')
      : undefined,
  };
}
