/**
 * `npm run bench -- workers`: the gateway as `npm start` runs it (dist/gateway/src/main.js,
 * GATEWAY_V8_FLAGS) with WORKERS=1 and WORKERS=2, side by side in one run, on one plain route to a
 * node:http upstream. The same closed-loop load goes to each in turn, in rounds. CPU per request
 * is the whole process group's (primary + workers) CPU time over the requests answered; req/s is
 * what the loader saw. Goals (issue 12): CPU/request at 2 workers within 10 % of 1 worker;
 * req/s ≥ 1.6× where the loader and the upstream do not share the gateway's cores — on a
 * 2-core machine they must share, and the table says so.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { readyOrStop, startChild, type Child } from './child-processes.js';
import { startGatewayChild } from './gateway-child.js';
import { chooseThroughputLoader } from './load.js';
import { benchScript, nodeBinary, repoRoot } from './paths.js';
import { BENCH_HOST, freePorts, waitForHttpOk } from './ports.js';
import { cpuSecondsDuring, groupMemory, waitUntilIdle } from './proc-stats.js';
import { formatMiB, formatNumber, formatTable, writeResults } from './report.js';
import type { BenchSettings } from './settings.js';

const PATH = '/svc/x';
const CPU_GOAL = 1.1;
const RPS_GOAL = 1.6;

interface Gateway {
  workers: number;
  child: Child;
  url: string;
}

async function startGateway(workers: number, upstreamPort: number, workDir: string): Promise<Gateway> {
  const [port, adminPort] = await freePorts(2);
  const child = await startGatewayChild(`switchboard (WORKERS=${workers})`, {
    storePath: join(workDir, `workers-${workers}.json`),
    config: { upstreams: [{ name: 'pool', targets: [{ url: `http://${BENCH_HOST}:${upstreamPort}` }] }], routes: [{ name: 'svc', upstream: 'pool', paths: ['/svc/*'], methods: ['GET'] }] },
    port: port!,
    adminPort: adminPort!,
    workers,
  });
  const url = `http://${BENCH_HOST}:${port}`;
  await readyOrStop(child, () => waitForHttpOk(`${url}${PATH}`, 60_000, child));
  // Every worker serves once /readyz answers from each; a few more probes over new connections.
  await readyOrStop(child, () => waitForHttpOk(`${url}/readyz`, 30_000, child));
  return { workers, child, url };
}

interface Figures {
  requests: number;
  cpuSeconds: number;
  seconds: number;
  failed: number;
  p99Ms: number[];
}

export async function runWorkersBench(settings: BenchSettings, workDir: string): Promise<void> {
  const { loader, notes } = chooseThroughputLoader(settings.loader, workDir);
  const [upstreamPort] = await freePorts(1);
  const upstream = startChild('node:http upstream', nodeBinary, [benchScript('upstream-server.js'), JSON.stringify({ ports: [upstreamPort], delayMs: 0, bodyBytes: settings.bodyBytes })]);
  const gateways: Gateway[] = [];
  try {
    await readyOrStop(upstream, () => waitForHttpOk(`http://${BENCH_HOST}:${upstreamPort}/`, 10_000, upstream));
    process.stdout.write('\nworkers: starting WORKERS=1 and WORKERS=2…\n');
    for (const n of [1, 2]) gateways.push(await startGateway(n, upstreamPort, workDir));
    const figures = new Map<number, Figures>(gateways.map((g) => [g.workers, { requests: 0, cpuSeconds: 0, seconds: 0, failed: 0, p99Ms: [] }]));
    for (const g of gateways) await waitUntilIdle(g.child.pid);
    // Each worker gets its share of the warm-up: as many requests per process as WORKERS=1 had.
    for (const g of gateways) await loader.run(`${g.url}${PATH}`, settings.connections, settings.warmupSeconds * g.workers);
    for (const g of gateways) await waitUntilIdle(g.child.pid, 5_000);
    const window = settings.durationSeconds / settings.rounds;
    for (let round = 0; round < settings.rounds; round++)
      for (const g of gateways) {
        const f = figures.get(g.workers)!;
        f.cpuSeconds += await cpuSecondsDuring(g.child.pid, async () => {
          const result = await loader.run(`${g.url}${PATH}`, settings.connections, window);
          f.requests += result.requests;
          f.seconds += result.seconds;
          f.failed += result.errors + result.non2xx;
          f.p99Ms.push(result.p99Ms);
        });
      }
    const cpuUs = (f: Figures) => (f.requests ? (f.cpuSeconds / f.requests) * 1e6 : NaN);
    const one = figures.get(1)!;
    const two = figures.get(2)!;
    const cpus = availableParallelism();
    const shared = `${cpus} CPUs: the loader (${loader.name}), the upstream and the gateway share them, so WORKERS=2 cannot get a core of its own per worker here`;
    const rows = gateways.map((g) => {
      const f = figures.get(g.workers)!;
      return {
        workers: g.workers,
        requests: f.requests,
        requestsPerSecond: f.requests / f.seconds,
        cpuUsPerRequest: cpuUs(f),
        failed: f.failed,
        p99MsPerRound: f.p99Ms,
        rssBytes: groupMemory(g.child.pid).rssBytes,
      };
    });
    const cpuRatio = cpuUs(two) / cpuUs(one);
    const rpsRatio = two.requests / two.seconds / (one.requests / one.seconds);
    const results = {
      machine: 'see notes: figures from a shared machine are only comparable within one run',
      cpus,
      loader: loader.description,
      connections: settings.connections,
      rounds: settings.rounds,
      notes: [...notes, shared],
      perWorkers: rows,
      goals: { cpuRatio, cpuGoal: CPU_GOAL, rpsRatio, rpsGoal: RPS_GOAL, loaderSharesCores: cpus <= 4 },
    };
    process.stdout.write(
      `\nWORKERS=1 vs 2: one plain route under ${loader.description}, ${settings.connections} connections, ${settings.rounds} round(s) interleaved\n\n` +
        formatTable(
          [{ header: 'WORKERS' }, { header: 'req/s' }, { header: 'CPU µs/req' }, { header: 'p99 ms (worst round)' }, { header: 'failed' }, { header: 'RSS MiB (all processes)' }],
          rows.map((r) => [String(r.workers), formatNumber(r.requestsPerSecond), formatNumber(r.cpuUsPerRequest, 1), formatNumber(Math.max(...r.p99MsPerRound), 2), formatNumber(r.failed), formatMiB(r.rssBytes)]),
        ) +
        '\n\n' +
        [
          `CPU/request at WORKERS=2: ×${cpuRatio.toFixed(3)} of WORKERS=1 (goal ≤ ×${CPU_GOAL}): ${cpuRatio <= CPU_GOAL ? 'met' : 'MISSED'}`,
          `req/s at WORKERS=2: ×${rpsRatio.toFixed(2)} of WORKERS=1 (goal ≥ ×${RPS_GOAL} where the loader has cores of its own)${cpus <= 4 ? ` — not judged here: ${shared}` : `: ${rpsRatio >= RPS_GOAL ? 'met' : 'MISSED'}`}`,
          ...notes,
        ].join('\n') +
        '\n',
    );
    const files = writeResults('workers', results);
    process.stdout.write(`wrote ${files.map((f) => f.slice(repoRoot.length)).join(', ')}\n`);
  } finally {
    for (const g of gateways) await g.child.stop();
    await upstream.stop();
  }
}

export const workersBenchmark = {
  summary: 'WORKERS=1 vs 2 (node:cluster): req/s and CPU per request of the whole node, side by side',
  budgetSeconds: (settings: BenchSettings) => settings.warmupSeconds * 2 + settings.durationSeconds * 2 + settings.rounds * 2 * 2 + 180,
  run: runWorkersBench,
};
