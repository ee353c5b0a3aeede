/**
 * `npm run bench -- routes`: what a large route table costs the gateway, in one run.
 *
 * One gateway process per route count (10, 10 000, 50 000 by default; BENCH_ROUTES=10,10000
 * to choose), each on its own embedded store holding `n` routes `r0…` on `/svc<i>/*` and one
 * upstream, all running side by side. The same closed-loop load goes to one plain route
 * (`/svc3/x`) of each in turn, in rounds, so a burst from whoever else shares the machine falls
 * on every route count alike; CPU per request is the gateway process's CPU time over the
 * requests answered. Then RSS, start-up time (spawn → last route answers), the dry compile's
 * time (what an admin save or `switchboard import` adds), and a reload of the 10-route gateway
 * onto 10 000 (and 50 000) routes under a client loop: time until the last route answers, the
 * longest event-loop stall inside the gateway meanwhile (see routes-gateway.ts) and the loop's
 * failures. Goals (issue 9): CPU/request at 10 000 routes ≤ 1.11 × at 10; RSS ≤ 150 MiB.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { nextStateFor, replaceConfig } from '../../gateway/src/config/replace-config.js';
import { emptyState } from '../../gateway/src/store/port.js';
import { withOfflineCompiler } from '../../gateway/src/node/offline-compile.js';
import { GATEWAY_V8_FLAGS, gatewayProcessEnv } from '../../gateway/src/runtime-flags.js';
import { FileStore } from '../../gateway/src/store/file-store.js';
import { defaultStages } from '../../plugins/index.js';
import { readyOrStop, startChild, type Child } from './child-processes.js';
import { chooseThroughputLoader } from './load.js';
import { benchScript, nodeBinary, repoRoot } from './paths.js';
import { BENCH_HOST, freePorts, waitForHttpOk } from './ports.js';
import { cpuSecondsBetween, cpuSnapshot, groupMemory } from './proc-stats.js';
import { formatMiB, formatNumber, formatTable, resultsDir, writeResults } from './report.js';
import type { BenchSettings } from './settings.js';

const PLAIN_PATH = '/svc3/x';
const RELOAD_TARGETS = [10_000, 50_000];
const RSS_GOAL_BYTES = 150 * 1024 * 1024;
const CPU_RATIO_GOAL = 1 / 0.9;

function routeCounts(): number[] {
  const raw = process.env.BENCH_ROUTES;
  if (!raw) return [10, 10_000, 50_000];
  const counts = raw.split(',').map((s) => Number(s.trim()));
  if (counts.some((n) => !Number.isInteger(n) || n < 4)) throw new Error(`BENCH_ROUTES=${raw}: expected route counts ≥ 4, e.g. 10,10000`);
  return counts;
}

export function routesConfig(n: number, upstreamPort: number) {
  return {
    upstreams: [{ name: 'pool', targets: [{ url: `http://${BENCH_HOST}:${upstreamPort}` }] }],
    routes: Array.from({ length: n }, (_, i) => ({ name: `r${i}`, upstream: 'pool', paths: [`/svc${i}/*`], methods: ['GET'] })),
  };
}

interface RunningGateway {
  readonly routes: number;
  child: Child;
  url: string;
  controlUrl: string;
  storePath: string;
  startMs: number;
  rssIdleBytes: number;
}

interface Probe {
  revision: number;
  maxStallMs: number;
  loopDelayMaxMs: number;
  rssBytes: number;
}

async function probe(g: RunningGateway, reset = false): Promise<Probe> {
  const res = await request(`${g.controlUrl}/probe${reset ? '?reset=1' : ''}`);
  return (await res.body.json()) as Probe;
}

async function withStore<T>(storePath: string, fn: (store: FileStore) => Promise<T>): Promise<T> {
  const store = new FileStore(storePath);
  await store.open();
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function startGateway(routes: number, upstreamPort: number, workDir: string): Promise<RunningGateway> {
  const storePath = join(workDir, `routes-${routes}.json`);
  const revision = await withStore(storePath, async (store) => (await replaceConfig(store, routesConfig(routes, upstreamPort), 'bench')).revision);
  const [port, controlPort, adminPort] = await freePorts(3);
  const started = performance.now();
  const child = startChild(`switchboard (${routes} routes)`, nodeBinary, [...GATEWAY_V8_FLAGS, benchScript('routes-gateway.js'), JSON.stringify({ storePath, port, controlPort, adminPort })], {
    cwd: repoRoot,
    env: gatewayProcessEnv(process.env),
  });
  const url = `http://${BENCH_HOST}:${port}`;
  await readyOrStop(child, () => waitForHttpOk(`${url}/svc${routes - 1}/x`, 300_000, child));
  const startMs = performance.now() - started;
  const g: RunningGateway = { routes, child, url, controlUrl: `http://${BENCH_HOST}:${controlPort}`, storePath, startMs, rssIdleBytes: 0 };
  await readyOrStop(child, () => waitForHttpOk(`${g.controlUrl}/probe`, 60_000, child));
  // The admin listener creates its first user at start: a new revision the node recompiles. Settle first.
  const current = await withStore(storePath, (store) => store.revision());
  while ((await probe(g)).revision < Math.max(revision, current)) await new Promise((r) => setTimeout(r, 100));
  g.rssIdleBytes = groupMemory(child.pid).rssBytes;
  return g;
}

interface LoadFigures {
  requests: number;
  cpuSeconds: number;
  seconds: number;
  errors: number;
  non2xx: number;
  p99Ms: number[];
}

interface ReloadFigures {
  fromRoutes: number;
  toRoutes: number;
  /** Commit → the new revision's last route answers (includes the store's 100 ms poll). */
  reloadMs: number;
  /** Longest lateness of a 5 ms timer inside the gateway during the reload. */
  maxStallMs: number;
  /** The same over 3 s of the same load without a reload: what the machine alone causes. */
  baselineStallMs: number;
  loopDelayMaxMs: number;
  loopRequests: number;
  loopFailures: number;
  loopMaxLatencyMs: number;
}

/** A client loop on the old generation's plain route while the gateway reloads onto `toRoutes`. */
async function reloadUnderLoad(g: RunningGateway, fromRoutes: number, toRoutes: number, upstreamPort: number): Promise<ReloadFigures> {
  const agent = new Agent({ connections: 8 });
  let stop = false;
  let requests = 0;
  let failures = 0;
  let maxLatencyMs = 0;
  const loop = async () => {
    while (!stop) {
      const t0 = performance.now();
      try {
        const res = await request(`${g.url}${PLAIN_PATH}`, { dispatcher: agent });
        await res.body.dump();
        if (res.statusCode !== 200) failures++;
      } catch {
        failures++;
      }
      maxLatencyMs = Math.max(maxLatencyMs, performance.now() - t0);
      requests++;
    }
  };
  const loops = Array.from({ length: 8 }, loop);
  await new Promise((r) => setTimeout(r, 1000));
  // The same loop for as long without a reload: the stall a busy machine causes by itself.
  await probe(g, true);
  await new Promise((r) => setTimeout(r, 3000));
  const baseline = await probe(g);
  maxLatencyMs = 0;
  await probe(g, true);
  const committed = performance.now();
  await withStore(g.storePath, (store) => replaceConfig(store, routesConfig(toRoutes, upstreamPort), 'bench'));
  const last = `${g.url}/svc${toRoutes - 1}/x`;
  for (;;) {
    const res = await request(last, { dispatcher: agent });
    await res.body.dump();
    if (res.statusCode === 200) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const reloadMs = performance.now() - committed;
  await new Promise((r) => setTimeout(r, 500));
  const seen = await probe(g);
  stop = true;
  await Promise.all(loops);
  await agent.close();
  return {
    fromRoutes,
    toRoutes,
    reloadMs,
    maxStallMs: seen.maxStallMs,
    baselineStallMs: baseline.maxStallMs,
    loopDelayMaxMs: seen.loopDelayMaxMs,
    loopRequests: requests,
    loopFailures: failures,
    loopMaxLatencyMs: maxLatencyMs,
  };
}

async function dryCompileMs(routes: number, upstreamPort: number, workDir: string): Promise<number> {
  return withStore(join(workDir, `dry-${routes}.json`), async (store) => {
    const state = { ...nextStateFor(emptyState(), routesConfig(routes, upstreamPort)).next, revision: 1 };
    return withOfflineCompiler(store, defaultStages(), async (compiles) => {
      const t0 = performance.now();
      await compiles(state);
      return performance.now() - t0;
    });
  });
}

export async function runRoutesBench(settings: BenchSettings, workDir: string): Promise<void> {
  const counts = routeCounts();
  const { loader, notes } = chooseThroughputLoader(settings.loader, workDir);
  const [upstreamPort] = await freePorts(1);
  const upstream = startChild('node:http upstream', nodeBinary, [benchScript('upstream-server.js'), JSON.stringify({ ports: [upstreamPort], delayMs: 0, bodyBytes: settings.bodyBytes })]);
  const gateways: RunningGateway[] = [];
  try {
    await readyOrStop(upstream, () => waitForHttpOk(`http://${BENCH_HOST}:${upstreamPort}/`, 10_000, upstream));
    process.stdout.write(`\nroutes: starting ${counts.length} gateways (${counts.join(', ')} routes)…\n`);
    for (const n of counts) gateways.push(await startGateway(n, upstreamPort, workDir));

    const load = new Map<number, LoadFigures>(counts.map((n) => [n, { requests: 0, cpuSeconds: 0, seconds: 0, errors: 0, non2xx: 0, p99Ms: [] }]));
    for (const g of gateways) await loader.run(`${g.url}${PLAIN_PATH}`, settings.connections, settings.warmupSeconds);
    const window = settings.durationSeconds / settings.rounds;
    for (let round = 0; round < settings.rounds; round++)
      for (const g of gateways) {
        const before = cpuSnapshot(g.child.pid);
        const result = await loader.run(`${g.url}${PLAIN_PATH}`, settings.connections, window);
        const cpu = cpuSecondsBetween(before, cpuSnapshot(g.child.pid));
        const f = load.get(g.routes)!;
        f.requests += result.requests;
        f.cpuSeconds += cpu;
        f.seconds += result.seconds;
        f.errors += result.errors;
        f.non2xx += result.non2xx;
        f.p99Ms.push(result.p99Ms);
      }
    const memory = new Map(gateways.map((g) => [g.routes, groupMemory(g.child.pid)]));

    const dry: Array<{ routes: number; ms: number }> = [];
    for (const n of counts) dry.push({ routes: n, ms: await dryCompileMs(n, upstreamPort, workDir) });

    const smallest = gateways[0]!;
    const reloads: ReloadFigures[] = [];
    let serving = smallest.routes;
    for (const target of RELOAD_TARGETS.filter((t) => counts.includes(t) && t > smallest.routes)) {
      reloads.push(await reloadUnderLoad(smallest, serving, target, upstreamPort));
      serving = target;
    }

    const base = load.get(counts[0]!)!;
    const cpuUs = (f: LoadFigures) => (f.requests ? (f.cpuSeconds / f.requests) * 1e6 : NaN);
    const rows = gateways.map((g) => ({ routes: g.routes, f: load.get(g.routes)!, mem: memory.get(g.routes)!, startMs: g.startMs, rssIdleBytes: g.rssIdleBytes }));
    const results = {
      machine: 'see notes: figures from a shared machine are only comparable within one run',
      loader: loader.description,
      connections: settings.connections,
      rounds: settings.rounds,
      notes,
      perRouteCount: rows.map(({ routes, f, mem, startMs, rssIdleBytes }) => ({
        routes,
        requests: f.requests,
        requestsPerSecond: f.requests / f.seconds,
        cpuUsPerRequest: cpuUs(f),
        cpuRatioTo10: cpuUs(f) / cpuUs(base),
        errors: f.errors,
        non2xx: f.non2xx,
        p99MsPerRound: f.p99Ms,
        rssIdleBytes,
        rssAfterLoadBytes: mem.rssBytes,
        peakRssBytes: mem.peakRssBytes,
        startMs,
        dryCompileMs: dry.find((d) => d.routes === routes)?.ms,
      })),
      reloads,
      goals: {
        cpuRatioAt10000: rows.find((r) => r.routes === 10_000) ? cpuUs(rows.find((r) => r.routes === 10_000)!.f) / cpuUs(base) : undefined,
        cpuRatioGoal: CPU_RATIO_GOAL,
        rssAt10000Bytes: memory.get(10_000)?.peakRssBytes,
        rssGoalBytes: RSS_GOAL_BYTES,
      },
    };

    process.stdout.write(
      `\nRoute table size: one plain route under ${loader.description}, ${settings.connections} connections, ${settings.rounds} round(s) interleaved\n\n` +
        formatTable(
          [
            { header: 'routes' },
            { header: 'req/s' },
            { header: 'CPU µs/req' },
            { header: 'vs 10' },
            { header: 'errors' },
            { header: 'RSS idle MiB' },
            { header: 'RSS peak MiB' },
            { header: 'start s' },
            { header: 'dry compile ms' },
          ],
          results.perRouteCount.map((r) => [
            formatNumber(r.routes),
            formatNumber(r.requestsPerSecond),
            formatNumber(r.cpuUsPerRequest, 1),
            `×${r.cpuRatioTo10.toFixed(3)}`,
            formatNumber(r.errors + r.non2xx),
            formatMiB(r.rssIdleBytes),
            formatMiB(r.peakRssBytes),
            formatNumber(r.startMs / 1000, 1),
            formatNumber(r.dryCompileMs, 0),
          ]),
        ) +
        '\n\nReload under a client loop (8 connections) on the old generation\n\n' +
        formatTable(
          [{ header: 'routes' }, { header: 'reload ms' }, { header: 'longest stall ms' }, { header: 'without reload ms' }, { header: 'loop delay max ms' }, { header: 'loop requests' }, { header: 'failed' }, { header: 'slowest ms' }],
          reloads.map((r) => [
            `${formatNumber(r.fromRoutes)} → ${formatNumber(r.toRoutes)}`,
            formatNumber(r.reloadMs),
            formatNumber(r.maxStallMs, 1),
            formatNumber(r.baselineStallMs, 1),
            formatNumber(r.loopDelayMaxMs, 1),
            formatNumber(r.loopRequests),
            formatNumber(r.loopFailures),
            formatNumber(r.loopMaxLatencyMs, 1),
          ]),
        ) +
        '\n\n' +
        [
          results.goals.cpuRatioAt10000 !== undefined
            ? `CPU/request at 10 000 routes: ×${results.goals.cpuRatioAt10000.toFixed(3)} of 10 routes (goal ≤ ×${CPU_RATIO_GOAL.toFixed(2)}): ${results.goals.cpuRatioAt10000 <= CPU_RATIO_GOAL ? 'met' : 'MISSED'}`
            : '',
          results.goals.rssAt10000Bytes !== undefined
            ? `peak RSS at 10 000 routes: ${formatMiB(results.goals.rssAt10000Bytes)} MiB (goal ≤ 150): ${results.goals.rssAt10000Bytes <= RSS_GOAL_BYTES ? 'met' : 'MISSED'}`
            : '',
          ...notes,
        ]
          .filter(Boolean)
          .join('\n') +
        '\n',
    );
    const files = writeResults('routes', results);
    writeFileSync(join(resultsDir, 'routes.json'), `${JSON.stringify(results, null, 2)}\n`);
    process.stdout.write(`wrote ${[...files, join(resultsDir, 'routes.json')].map((f) => f.slice(repoRoot.length)).join(', ')}\n`);
  } finally {
    for (const g of gateways) await g.child.stop();
    await upstream.stop();
  }
}

export const routesBenchmark = {
  summary: 'route table size: CPU/request on one plain route with 10 vs 10 000 vs 50 000 routes, RSS, compile and reload stall',
  budgetSeconds: (settings: BenchSettings) => settings.warmupSeconds * 3 + settings.durationSeconds * 3 + settings.rounds * 3 * 2 + 900,
  run: runRoutesBench,
};
