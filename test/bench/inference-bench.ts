/**
 * The inference benchmark (issue 10, Goals): `npm run bench -- inference`.
 *
 * 1. Prefix affinity. Four simulated GPUs (speeds 1,1,1,3; 4 slots; a prefix cache of
 *    CACHE_BLOCKS blocks of 16 tokens each; prefill time per uncached prompt token), multi-turn
 *    chat — 40 conversations over 8 system prompts of ≈ 1 000 tokens, history growing each turn,
 *    an x-session-id header — with Poisson arrivals at 70 % of the pool's capacity (computed
 *    without any cache hit). Time to first token p50/p99, tokens/s and the workers' prefix-cache
 *    hit rate for Switchboard round-robin, least-queue, consistent-hash on x-session-id and
 *    prefix-affinity, nginx least_conn, and HAProxy `balance hdr(x-session-id)` with
 *    `hash-balance-factor 150`. Each contender gets fresh workers (cold caches) and a warm-up.
 * 2. Noisy neighbour. Consumer A at 3× the pool's capacity, B at 20 %: B's latency p99 alone,
 *    beside A with flow control (maxConnections = slots, a queue), beside A without (the
 *    workers queue everything), and through nginx least_conn.
 *
 * Switchboard runs in this process (a GatewayNode on 127.0.0.1, as the tests start it), so the
 * benchmark can issue the consumers' API keys; the workers and the load generator are child
 * processes. Environment: BENCH_QUICK=1 (short runs), BENCH_INFERENCE_SECONDS (default 10),
 * BENCH_INFERENCE_WARMUP (3), BENCH_INFERENCE_CONTENDERS=round-robin,prefix-affinity,nginx,…,
 * BENCH_INFERENCE_NOISY=0 (skip the noisy-neighbour runs).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { GpuWorkerStats } from '../../gateway/src/simulator/gpu-worker.js';
import { issueKey } from '../../gateway/src/keys/key-service.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startHaproxyBalancer, startNginxLeastConn, type PoolWorker, type RunningBalancer } from './balance-contenders.js';
import type { BalanceWorkersOptions } from './balance-workers.js';
import { armWatchdog, installChildCleanup, killAllChildrenNow, readyOrStop, runToCompletion, startChild } from './child-processes.js';
import type { FlowResult, InferenceClientOptions, InferenceClientResult, InferenceFlow } from './inference-client.js';
import { benchScript, nodeBinary } from './paths.js';
import { BENCH_HOST, freePorts, waitForHttpOk } from './ports.js';
import { formatNumber, formatTable, writeResults } from './report.js';
import { readBenchSettings, type BenchSettings } from './settings.js';
import { findTool } from './tools.js';

const SPEEDS = [1, 1, 1, 3];
const NAMES = ['fast1', 'fast2', 'fast3', 'slow'];
const SLOTS = 4;
const PREFILL_MS = 10;
/** 1 000 uncached prompt tokens cost 100 ms at 1×: prefill dominates the first token, as on a GPU. */
const PREFILL_MS_PER_TOKEN = 0.1;
const TOKEN_MS = 5;
const MAX_TOKENS = 16;
/**
 * 512 blocks × 16 tokens ≈ 8 000 tokens of KV cache per worker: fewer than the 8 system prompts
 * and 40 histories together (≈ 17 000 tokens), so a worker that sees every prefix evicts; the
 * regime where placement matters.
 */
const CACHE_BLOCKS = 512;
const CONVERSATIONS = 40;
const SYSTEM_PROMPT_COUNT = 8;
const MAX_TURNS = 8;
const LOAD_SHARE = 0.7;
const PATH = '/v1/chat/completions';
const SEED = 20261201;

/** The noisy-neighbour pool: no cache, short prompts, 32 tokens: ≈ 172 ms at 1×. */
const NOISY_MAX_TOKENS = 32;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** ≈ 4 000 characters (≈ 1 000 tokens) each, different from the first character on. */
function systemPrompts(): string[] {
  const topics = ['billing', 'networking', 'storage', 'security', 'databases', 'frontends', 'compilers', 'robotics'];
  return topics.map((topic, i) =>
    `[${i}] You are the ${topic} assistant of Example Corp. ` +
    Array.from({ length: 60 }, (_, line) => `Rule ${line + 1} for ${topic}: answer precisely, cite the runbook section ${i}.${line}. `).join(''),
  );
}

/** Mean service time at 1× for a prompt of `tokens` tokens with nothing cached. */
function coldServiceMs(tokens: number, maxTokens: number): number {
  return PREFILL_MS + tokens * PREFILL_MS_PER_TOKEN + maxTokens * TOKEN_MS;
}

function capacity(serviceMsAt1: number): number {
  return SPEEDS.reduce((sum, speed) => sum + (SLOTS * 1000) / (serviceMsAt1 * speed), 0);
}

interface Settings {
  warmupSeconds: number;
  seconds: number;
  contenders: string[];
}

const AFFINITY_CONTENDERS = ['round-robin', 'least-queue', 'consistent-hash', 'prefix-affinity', 'nginx', 'haproxy'] as const;

function readSettings(bench: BenchSettings): Settings {
  const num = (name: string, fallback: number) => {
    const raw = process.env[name];
    const value = raw === undefined || raw === '' ? fallback : Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${raw} is not a positive number`);
    return value;
  };
  const wanted = (process.env.BENCH_INFERENCE_CONTENDERS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !(AFFINITY_CONTENDERS as readonly string[]).includes(w));
  if (unknown.length) throw new Error(`BENCH_INFERENCE_CONTENDERS: unknown ${unknown.join(', ')}; known: ${AFFINITY_CONTENDERS.join(', ')}`);
  return {
    warmupSeconds: num('BENCH_INFERENCE_WARMUP', bench.quick ? 1 : 3),
    seconds: num('BENCH_INFERENCE_SECONDS', bench.quick ? 3 : 10),
    contenders: wanted.length ? wanted : [...AFFINITY_CONTENDERS],
  };
}

interface WorkerPool {
  workers: PoolWorker[];
  stats(): Promise<GpuWorkerStats[]>;
  stop(): Promise<void>;
}

async function startWorkers(workDir: string, cache: boolean): Promise<WorkerPool> {
  const [controlPort, ...ports] = await freePorts(SPEEDS.length + 1);
  const workers = ports.map((port, i) => ({ name: NAMES[i]!, host: BENCH_HOST, port }));
  const options: BalanceWorkersOptions = {
    workers: workers.map((w, i) => ({ name: w.name, port: w.port, speed: SPEEDS[i]! })),
    controlPort: controlPort!,
    host: BENCH_HOST,
    slots: SLOTS,
    prefillMs: PREFILL_MS,
    tokenMs: TOKEN_MS,
    maxQueue: 100_000,
    prefillMsPerToken: PREFILL_MS_PER_TOKEN,
    prefixCacheBlocks: cache ? CACHE_BLOCKS : 0,
  };
  const child = startChild('gpu workers', nodeBinary, [benchScript('balance-workers.js'), JSON.stringify(options)], { cwd: workDir });
  const control = `http://${BENCH_HOST}:${controlPort}`;
  await readyOrStop(child, () => waitForHttpOk(`${control}/stats`, 15_000, child));
  return {
    workers,
    stats: async () => (await (await fetch(`${control}/stats`, { signal: AbortSignal.timeout(5000) })).json()) as GpuWorkerStats[],
    stop: () => child.stop(),
  };
}

async function runClient(url: string, flows: InferenceFlow[], settings: Settings, maxTokens: number): Promise<FlowResult[]> {
  const options: InferenceClientOptions = {
    url,
    flows,
    warmupSeconds: settings.warmupSeconds,
    seconds: settings.seconds,
    seed: SEED,
    conversations: CONVERSATIONS,
    systemPrompts: systemPrompts(),
    maxTurns: MAX_TURNS,
    maxTokens,
    requestTimeoutMs: 60_000,
    drainTimeoutMs: 60_000,
  };
  const limitMs = (settings.warmupSeconds + settings.seconds) * 1000 + 90_000;
  const done = await runToCompletion('inference client', nodeBinary, [benchScript('inference-client.js'), JSON.stringify(options)], limitMs);
  const line = done.stdout.trim().split('\n').at(-1) ?? '';
  if (done.code !== 0 || !line.startsWith('{')) throw new Error(`load generator ${done.timedOut ? 'timed out' : `exited ${done.code}`}:\n${done.output}`);
  return (JSON.parse(line) as InferenceClientResult).flows;
}

function upstreamOf(algorithm: string, workers: PoolWorker[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const upstream: Record<string, unknown> = { name: 'gpus', algorithm, targets: workers.map((w) => ({ url: `http://${w.host}:${w.port}` })), ...extra };
  if (algorithm === 'consistent-hash') upstream.hashOn = { source: 'header', name: 'x-session-id' };
  // The key: the system prompt's first 2 048 characters, shared by its five conversations.
  if (algorithm === 'prefix-affinity') upstream.prefixAffinity = { prefixChars: 2048, loadFactor: 0.25 };
  return upstream;
}

/** HAProxy's nearest to prefix affinity: a consistent hash of the session header with bounded loads. */
function startHaproxyHeaderHash(workDir: string, workers: PoolWorker[]): Promise<RunningBalancer> {
  return startHaproxyBalancer(workDir, workers, {
    label: 'haproxy hdr hash',
    fileStem: 'inference-haproxy',
    balance: ['balance hdr(x-session-id)', 'hash-type consistent', 'hash-balance-factor 150'],
  });
}

interface AffinityRow {
  contender: string;
  status: 'ran' | 'skipped' | 'failed';
  problem?: string;
  result?: FlowResult;
  hitRate?: number;
  byWorker?: Record<string, number>;
}

async function affinityScenario(workDir: string, settings: Settings, gateway: () => Promise<TestGateway>): Promise<{ rate: number; rows: AffinityRow[] }> {
  // ≈ 1 000-token system prompt plus ≈ 3.5 turns of ≈ 55 tokens on average, nothing cached.
  const meanTokens = 1000 + 3.5 * 55;
  const rate = LOAD_SHARE * capacity(coldServiceMs(meanTokens, MAX_TOKENS));
  log(`\nprefix affinity: ${rate.toFixed(1)} req/s Poisson (${LOAD_SHARE * 100} % of ${capacity(coldServiceMs(meanTokens, MAX_TOKENS)).toFixed(1)} req/s without cache hits), `
    + `${settings.warmupSeconds} s warm-up + ${settings.seconds} s measured; ${CONVERSATIONS} conversations over ${SYSTEM_PROMPT_COUNT} system prompts, up to ${MAX_TURNS} turns`);
  const rows: AffinityRow[] = [];
  for (const contender of settings.contenders) {
    const row: AffinityRow = { contender: label(contender), status: 'ran' };
    rows.push(row);
    if ((contender === 'nginx' || contender === 'haproxy') && findTool(contender) === undefined) {
      Object.assign(row, { status: 'skipped', problem: `${contender} not installed` });
      continue;
    }
    let pool: WorkerPool | undefined;
    let outside: RunningBalancer | undefined;
    try {
      pool = await startWorkers(workDir, true);
      let url: string;
      if (contender === 'nginx') url = new URL((outside = await startNginxLeastConn(workDir, pool.workers, undefined)).url).origin + PATH;
      else if (contender === 'haproxy') url = new URL((outside = await startHaproxyHeaderHash(workDir, pool.workers)).url).origin + PATH;
      else {
        const gw = await gateway();
        await gw.apply({ upstreams: [upstreamOf(contender, pool.workers)], routes: [{ name: 'chat', methods: ['POST'], paths: [PATH], upstream: 'gpus' }], consumers: [] });
        url = gw.url + PATH;
      }
      const before = await pool.stats();
      const [result] = await runClient(url, [{ name: 'chat', rate, mode: 'chat' }], settings, MAX_TOKENS);
      const after = await pool.stats();
      const hits = after.reduce((s, w, i) => s + w.prefixCacheHits - before[i]!.prefixCacheHits, 0);
      const queries = after.reduce((s, w, i) => s + w.prefixCacheQueries - before[i]!.prefixCacheQueries, 0);
      Object.assign(row, {
        result,
        hitRate: queries > 0 ? hits / queries : undefined,
        byWorker: Object.fromEntries(after.map((w, i) => [w.name, w.requests - before[i]!.requests])),
      });
      log(`  ${row.contender}: TTFT p50 ${result!.ttftP50Ms.toFixed(0)} ms, p99 ${result!.ttftP99Ms.toFixed(0)} ms, ${result!.tokensPerSecond.toFixed(0)} tokens/s, hit rate ${((row.hitRate ?? 0) * 100).toFixed(0)} %`);
    } catch (error) {
      Object.assign(row, { status: 'failed', problem: (error as Error).message });
      log(`  ${row.contender}: failed — ${(error as Error).message.split('\n')[0]}`);
    } finally {
      await outside?.stop();
      await pool?.stop();
    }
  }
  return { rate, rows };
}

function label(contender: string): string {
  if (contender === 'nginx') return 'nginx least_conn';
  if (contender === 'haproxy') return 'haproxy hdr(x-session-id) hash-balance-factor 150';
  if (contender === 'consistent-hash') return 'switchboard consistent-hash (x-session-id)';
  return `switchboard ${contender}`;
}

interface NoisyRow {
  setup: string;
  eventLoopDelayP99Ms?: number;
  /** The gateway queue's own account per consumer (flow-control runs). */
  queue?: Record<string, unknown>;
  b?: FlowResult;
  a?: FlowResult;
  status: 'ran' | 'skipped' | 'failed';
  problem?: string;
}

async function noisyScenario(workDir: string, settings: Settings, gateway: () => Promise<TestGateway>): Promise<{ capacity: number; rows: NoisyRow[] }> {
  const cap = capacity(coldServiceMs(12, NOISY_MAX_TOKENS));
  log(`\nnoisy neighbour: A at 3× capacity (${(3 * cap).toFixed(0)} req/s), B at 20 % (${(0.2 * cap).toFixed(1)} req/s); capacity ${cap.toFixed(1)} req/s`);
  const gw = await gateway();
  const keys: Record<string, string> = {};
  const rows: NoisyRow[] = [];
  const setups: Array<{ setup: string; flows: 'B' | 'AB'; mode: 'flow' | 'plain' | 'nginx' }> = [
    { setup: 'B alone (switchboard, flow control)', flows: 'B', mode: 'flow' },
    { setup: 'B beside A, switchboard with flow control', flows: 'AB', mode: 'flow' },
    { setup: 'B beside A, switchboard without flow control', flows: 'AB', mode: 'plain' },
    { setup: 'B beside A, nginx least_conn', flows: 'AB', mode: 'nginx' },
  ];
  for (const s of setups) {
    const row: NoisyRow = { setup: s.setup, status: 'ran' };
    rows.push(row);
    if (s.mode === 'nginx' && findTool('nginx') === undefined) {
      Object.assign(row, { status: 'skipped', problem: 'nginx not installed' });
      continue;
    }
    let pool: WorkerPool | undefined;
    let outside: RunningBalancer | undefined;
    try {
      pool = await startWorkers(workDir, false);
      let url: string;
      if (s.mode === 'nginx') url = new URL((outside = await startNginxLeastConn(workDir, pool.workers, undefined)).url).origin + PATH;
      else {
        const flow = s.mode === 'flow';
        const upstream = upstreamOf('least-connections', pool.workers, flow ? { queue: { maxSize: 64, timeoutMs: 2000 } } : {});
        if (flow) upstream.targets = (upstream.targets as object[]).map((t) => ({ ...t, maxConnections: SLOTS }));
        await gw.apply({
          upstreams: [upstream],
          routes: [{ name: 'chat', methods: ['POST'], paths: [PATH], upstream: 'gpus', auth: 'api-key' }],
          consumers: [{ name: 'A' }, { name: 'B' }],
        });
        for (const name of ['A', 'B']) keys[name] ??= (await issueKey(gw.store, name, { actor: 'bench' })).key;
        url = gw.url + PATH;
        await waitUntilServed(url, keys.B!);
      }
      const flows: InferenceFlow[] = [{ name: 'B', rate: 0.2 * cap, mode: 'simple', apiKey: keys.B }];
      if (s.flows === 'AB') flows.unshift({ name: 'A', rate: 3 * cap, mode: 'simple', apiKey: keys.A });
      // The gateway runs in this process: its event-loop delay is part of what B sees.
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      const results = await runClient(url, flows, { ...settings, warmupSeconds: 1 }, NOISY_MAX_TOKENS);
      lag.disable();
      row.eventLoopDelayP99Ms = lag.percentile(99) / 1e6;
      const queue = s.mode === 'flow' ? gw.node.upstreams.get('gpus')?.queue : undefined;
      if (queue) row.queue = Object.fromEntries(queue.flows());
      row.b = results.find((r) => r.name === 'B');
      row.a = results.find((r) => r.name === 'A');
      log(`  ${s.setup}: B p99 ${row.b!.latencyP99Ms.toFixed(0)} ms (p50 ${row.b!.latencyP50Ms.toFixed(0)})${row.a ? `; A ${row.a.ok} ok, ${Object.values(row.a.refused).reduce((x, y) => x + y, 0)} refused` : ''}; event-loop delay p99 ${row.eventLoopDelayP99Ms.toFixed(0)} ms${row.queue ? `; queue ${JSON.stringify(row.queue)}` : ''}`);
    } catch (error) {
      Object.assign(row, { status: 'failed', problem: (error as Error).message });
      log(`  ${s.setup}: failed — ${(error as Error).message.split('\n')[0]}`);
    } finally {
      await outside?.stop();
      await pool?.stop();
    }
  }
  return { capacity: cap, rows };
}

async function waitUntilServed(url: string, key: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ model: 'sim-llm', max_tokens: 1, messages: [{ role: 'user', content: 'ready?' }] }),
    }).catch(() => undefined);
    await res?.text();
    if (res?.status === 200) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the gateway did not accept the bench consumer’s key within 10 s');
}

function printTables(affinity: { rows: AffinityRow[] }, noisy: { rows: NoisyRow[] }): void {
  log('\nprefix affinity (TTFT = time to first streamed token; hit rate = cached / queried prompt tokens over all workers)\n');
  log(
    formatTable(
      [{ header: 'contender', align: 'left' }, { header: 'TTFT p50 ms' }, { header: 'TTFT p99 ms' }, { header: 'tokens/s' }, { header: 'cache hit %' }, { header: 'ok' }, { header: 'failed' }, { header: 'requests per worker', align: 'left' }],
      affinity.rows.map((r) => [
        r.contender,
        formatNumber(r.result?.ttftP50Ms),
        formatNumber(r.result?.ttftP99Ms),
        formatNumber(r.result?.tokensPerSecond),
        r.hitRate === undefined ? '—' : formatNumber(r.hitRate * 100),
        formatNumber(r.result?.ok),
        r.result ? formatNumber(r.result.errors + Object.values(r.result.refused).reduce((x, y) => x + y, 0) + r.result.unanswered) : r.status,
        r.byWorker ? Object.values(r.byWorker).join('/') : (r.problem ?? ''),
      ]),
    ),
  );
  log('\nnoisy neighbour (latency to the whole answer; refusals are 503 + Retry-After)\n');
  log(
    formatTable(
      [{ header: 'setup', align: 'left' }, { header: 'B p50 ms' }, { header: 'B p99 ms' }, { header: 'B ok' }, { header: 'B refused' }, { header: 'A ok' }, { header: 'A refused' }, { header: 'unanswered' }],
      noisy.rows.map((r) => [
        r.setup,
        formatNumber(r.b?.latencyP50Ms),
        formatNumber(r.b?.latencyP99Ms),
        formatNumber(r.b?.ok),
        r.b ? formatNumber(Object.values(r.b.refused).reduce((x, y) => x + y, 0) + r.b.errors) : r.status,
        formatNumber(r.a?.ok),
        r.a ? formatNumber(Object.values(r.a.refused).reduce((x, y) => x + y, 0) + r.a.errors) : '—',
        formatNumber((r.a?.unanswered ?? 0) + (r.b?.unanswered ?? 0)),
      ]),
    ),
  );
}

export const inferenceBenchmark = {
  summary: 'inference: prefix affinity vs round-robin/least-queue/session hash/nginx/HAProxy (TTFT, tokens/s, cache hits); noisy neighbour with and without flow control',
  budgetSeconds(bench: BenchSettings): number {
    const s = readSettings(bench);
    return (s.contenders.length + 4) * (s.warmupSeconds + s.seconds + 40) + 120;
  },
  async run(bench: BenchSettings, workDir: string): Promise<void> {
    const settings = readSettings(bench);
    const startedAt = new Date().toISOString();
    const loadAverageAtStart = loadavg();
    log(`inference: ${SPEEDS.length} simulated GPUs (speeds ${SPEEDS.join(',')}), ${SLOTS} slots, prefill ${PREFILL_MS} ms + ${PREFILL_MS_PER_TOKEN} ms per uncached prompt token, ${TOKEN_MS} ms per output token, prefix cache ${CACHE_BLOCKS} blocks × 16 tokens`);
    let gw: TestGateway | undefined;
    const gateway = async () => (gw ??= await startGateway(undefined));
    try {
      const affinity = await affinityScenario(workDir, settings, gateway);
      const noisy = process.env.BENCH_INFERENCE_NOISY === '0' ? { capacity: 0, rows: [] } : await noisyScenario(workDir, settings, gateway);
      printTables(affinity, noisy);
      const files = writeResults('inference', { startedAt, loadAverageAtStart, loadAverageAtEnd: loadavg(), settings, affinity, noisy });
      log(`\nwrote ${files.join(' and ')}`);
    } finally {
      await gw?.close();
    }
  },
};

/** `node dist/test/bench/inference-bench.js` — the same as `npm run bench -- inference`. */
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const bench = readBenchSettings();
  installChildCleanup();
  const workDir = mkdtempSync(join(tmpdir(), 'switchboard-inference-'));
  process.on('exit', () => rmSync(workDir, { recursive: true, force: true }));
  armWatchdog(inferenceBenchmark.budgetSeconds(bench) * 1000);
  inferenceBenchmark.run(bench, workDir).then(
    () => {
      killAllChildrenNow();
      process.exit(0);
    },
    (error: unknown) => {
      killAllChildrenNow();
      process.stderr.write(`bench inference: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
