import { GATEWAY_V8_FLAGS, gatewayProcessEnv } from '../../gateway/src/runtime-flags.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Algorithm } from '../../spec/upstream.js';
import { runToCompletion, startChild, type Child, readyOrStop } from './child-processes.js';
import { nginxReverseProxyConfig } from './nginx-config.js';
import { nodeBinary, repoRoot } from './paths.js';
import { BENCH_HOST, freePorts, waitForHttpOk } from './ports.js';
import { findTool, missingToolLine } from './tools.js';

/**
 * What the balancing bench puts in front of the GPU pool: Switchboard with each algorithm in
 * turn (one gateway process, reconfigured through `switchboard import` as an operator would),
 * nginx `least_conn` and HAProxy `leastconn`. The proxy bench's contenders are fixed to round
 * robin without health checks, so the configs here are this bench's own; process handling,
 * ports and tool lookup are shared.
 *
 * Same rules for all: every worker weight 1 (the operator does not know which GPU is slow —
 * that is what balancing has to find out), keep-alive to the workers, one worker process or
 * thread, long timeouts so a queue shows as latency and not as an error. Retries: each proxy's
 * default for a POST — retried when the connection was refused (nothing was sent), never once
 * the worker had the request.
 */

export const COMPLETIONS_PATH = '/v1/completions';

export interface PoolWorker {
  name: string;
  host: string;
  port: number;
}

/** Health settings of the failure scenario; undefined = no health checks (load scenarios). */
export interface HealthSettings {
  consecutiveFailures: number;
  ejectMs: number;
  activeIntervalMs: number;
  /** Active checks failed (or passed) in a row to mark a worker down (or up). */
  threshold: number;
}

export interface RunningBalancer {
  url: string;
  /** The proxy's process group, for its CPU time. */
  pgid: number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;
const IMPORT_TIMEOUT_MS = 30_000;
const RELOAD_TIMEOUT_MS = 15_000;

let fileCount = 0;
function stem(name: string): string {
  fileCount += 1;
  return `${name}-${fileCount}`;
}

async function readyOrStopped(child: Child, url: string): Promise<void> {
  await readyOrStop(child, () => waitForHttpOk(url, READY_TIMEOUT_MS, child));
}

/** Like the other contenders: fail over on connect errors and timeouts, long reads for generations. */
const PROXY_DIRECTIVES = ['proxy_connect_timeout 2s;', 'proxy_read_timeout 120s;', 'proxy_next_upstream error timeout;'];

function nginxConfig(workDir: string, name: string, port: number, workers: PoolWorker[], health: HealthSettings | undefined): string {
  // nginx open source has no active checks: max_fails within fail_timeout is its only health.
  const failures = health ? ` max_fails=${health.consecutiveFailures} fail_timeout=${Math.round(health.ejectMs / 1000)}s` : '';
  return nginxReverseProxyConfig({
    workDir,
    stem: name,
    host: BENCH_HOST,
    port,
    servers: workers.map((worker) => `${worker.host}:${worker.port}${failures}`),
    balance: 'least_conn',
    extraLocations: ['location = /nginx-ready { return 200 "ok"; }'],
    locationDirectives: PROXY_DIRECTIVES,
    errorLogLevel: 'error',
  });
}

export async function startNginxLeastConn(workDir: string, workers: PoolWorker[], health: HealthSettings | undefined): Promise<RunningBalancer> {
  const binary = findTool('nginx');
  if (binary === undefined) throw new Error(missingToolLine('nginx', 'cannot run the nginx contender'));
  const name = stem('balance-nginx');
  const [port] = await freePorts(1);
  const configFile = join(workDir, `${name}.conf`);
  writeFileSync(configFile, nginxConfig(workDir, name, port!, workers, health));
  const child = startChild('nginx least_conn', binary, ['-p', workDir, '-c', configFile, '-e', join(workDir, `${name}-error.log`)], { cwd: workDir });
  const origin = `http://${BENCH_HOST}:${port}`;
  await readyOrStopped(child, `${origin}/nginx-ready`);
  return { url: `${origin}${COMPLETIONS_PATH}`, pgid: child.pid, stop: () => child.stop() };
}

/** What sets one HAProxy contender apart; the rest (one thread, timeouts, ready path, reuse) is shared. */
export interface HaproxyBalancing {
  /** The process's name in messages. */
  label: string;
  fileStem: string;
  /** The backend's balancing lines: `balance leastconn`, or a header hash with its load bound. */
  balance: string[];
  /** `defaults` lines beyond the shared timeouts. */
  defaults?: string[];
  health?: HealthSettings | undefined;
}

function haproxyConfig(port: number, workers: PoolWorker[], balancing: HaproxyBalancing): string {
  const { health } = balancing;
  const check = health ? ` check inter ${health.activeIntervalMs} fall ${health.threshold} rise ${health.threshold}` : '';
  const servers = workers.map((worker) => `    server ${worker.name} ${worker.host}:${worker.port}${check}`).join('\n');
  const lines = (list: string[] | undefined) => (list ?? []).map((line) => `    ${line}\n`).join('');
  return `global
    nbthread 1
    maxconn 8192

defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s
${lines(balancing.defaults)}
frontend balance_in
    bind ${BENCH_HOST}:${port}
    http-request return status 200 content-type text/plain string ok if { path /haproxy-ready }
    default_backend gpu_pool

backend gpu_pool
${lines(balancing.balance)}    http-reuse always
${health ? '    option httpchk GET /health\n' : ''}${servers}
`;
}

/** HAProxy in front of the GPU pool, answering once its ready path does. */
export async function startHaproxyBalancer(workDir: string, workers: PoolWorker[], balancing: HaproxyBalancing): Promise<RunningBalancer> {
  const binary = findTool('haproxy');
  if (binary === undefined) throw new Error(missingToolLine('haproxy', `cannot run the ${balancing.label} contender`));
  const name = stem(balancing.fileStem);
  const [port] = await freePorts(1);
  const configFile = join(workDir, `${name}.cfg`);
  writeFileSync(configFile, haproxyConfig(port!, workers, balancing));
  const child = startChild(balancing.label, binary, ['-db', '-f', configFile], { cwd: workDir });
  const origin = `http://${BENCH_HOST}:${port}`;
  await readyOrStopped(child, `${origin}/haproxy-ready`);
  return { url: `${origin}${COMPLETIONS_PATH}`, pgid: child.pid, stop: () => child.stop() };
}

export function startHaproxyLeastConn(workDir: string, workers: PoolWorker[], health: HealthSettings | undefined): Promise<RunningBalancer> {
  return startHaproxyBalancer(workDir, workers, {
    label: 'haproxy leastconn',
    fileStem: 'balance-haproxy',
    balance: ['balance leastconn'],
    // A request queued behind maxconn waits as long as a generation may take; a refused
    // connection is retried on another worker (the proxies' default for a POST: nothing was sent).
    defaults: ['timeout queue 120s', 'retries 3', 'option redispatch 1'],
    health,
  });
}

/**
 * weighted-round-robin is the one algorithm given weights: 3:3:3:1, what an operator who knows
 * the slow GPU would write (with all weights 1 it is plain round robin). It stands for static
 * knowledge against the algorithms that have to find the slow worker themselves.
 */
export function switchboardWeights(algorithm: Algorithm, workers: PoolWorker[], speeds: number[]): number[] {
  if (algorithm !== 'weighted-round-robin') return workers.map(() => 1);
  const slowest = Math.max(...speeds);
  return speeds.map((speed) => Math.max(1, Math.round(slowest / speed)));
}

export function switchboardConfig(algorithm: Algorithm, workers: PoolWorker[], weights: number[], health: HealthSettings | undefined): unknown {
  const upstream: Record<string, unknown> = {
    name: 'gpu-pool',
    algorithm,
    targets: workers.map((worker, index) => ({ url: `http://${worker.host}:${worker.port}`, weight: weights[index] ?? 1 })),
  };
  // Every request carries a random session id and client address (balance-arrivals.ts): many
  // sessions from many clients behind one trusted edge, instead of one address for everything.
  if (algorithm === 'consistent-hash') upstream.hashOn = { source: 'header', name: 'x-session-id' };
  if (algorithm === 'ip-hash') upstream.trustedProxies = ['127.0.0.1/32'];
  if (health) {
    upstream.healthCheck = {
      active: {
        type: 'http',
        path: '/health',
        intervalMs: health.activeIntervalMs,
        timeoutMs: Math.min(250, health.activeIntervalMs),
        healthyThreshold: health.threshold,
        unhealthyThreshold: health.threshold,
      },
      passive: { consecutiveFailures: health.consecutiveFailures, ejectMs: health.ejectMs },
    };
  }
  return {
    upstreams: [upstream],
    routes: [{ name: 'completions', methods: ['POST'], paths: [COMPLETIONS_PATH], upstream: 'gpu-pool', auth: 'none' }],
    consumers: [],
  };
}

/** One gateway process for the whole run; each algorithm is a new configuration imported into its store. */
export interface SwitchboardGateway extends RunningBalancer {
  /** Imports `config` and resolves once the gateway serves the new revision. */
  apply(config: unknown): Promise<number>;
}

const SWITCHBOARD_CLI = join(repoRoot, 'bin/switchboard.js');
const SWITCHBOARD_MAIN = join(repoRoot, 'dist/gateway/src/main.js');

async function servedRevision(origin: string): Promise<number> {
  try {
    const response = await fetch(`${origin}/healthz`, { signal: AbortSignal.timeout(1000) });
    const body = (await response.json()) as { revision?: number };
    return typeof body.revision === 'number' ? body.revision : -1;
  } catch {
    return -1;
  }
}

export async function startSwitchboardGateway(workDir: string, initialConfig: unknown): Promise<SwitchboardGateway> {
  const name = stem('balance-switchboard');
  const storeUrl = `file:${join(workDir, `${name}-store.json`)}`;
  const env = { ...process.env, STORE_URL: storeUrl, DEMO: '0', LOG_LEVEL: 'warn' };

  const importConfig = async (config: unknown): Promise<number> => {
    const configFile = join(workDir, `${stem('balance-switchboard-config')}.json`);
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    const imported = await runToCompletion('switchboard import', nodeBinary, [SWITCHBOARD_CLI, 'import', configFile],
      IMPORT_TIMEOUT_MS, { cwd: repoRoot, env });
    const revision = /revision (\d+)/.exec(imported.stdout)?.[1];
    if (imported.code !== 0 || revision === undefined) {
      const why = imported.timedOut ? `timed out after ${IMPORT_TIMEOUT_MS} ms` : `exited ${imported.code}`;
      throw new Error(`switchboard import ${why}:\n${imported.output}`);
    }
    return Number(revision);
  };

  await importConfig(initialConfig);
  const [port, adminPort] = await freePorts(2);
  const child = startChild('switchboard', nodeBinary, [...GATEWAY_V8_FLAGS, SWITCHBOARD_MAIN], {
    cwd: repoRoot,
    env: { ...gatewayProcessEnv(env), PORT: String(port), ADMIN_PORT: String(adminPort), HOST: BENCH_HOST, ADMIN_HOST: BENCH_HOST },
  });
  const origin = `http://${BENCH_HOST}:${port}`;
  await readyOrStopped(child, `${origin}/healthz`);

  return {
    url: `${origin}${COMPLETIONS_PATH}`,
    pgid: child.pid,
    stop: () => child.stop(),
    async apply(config) {
      const revision = await importConfig(config);
      const deadline = Date.now() + RELOAD_TIMEOUT_MS;
      while (Date.now() < deadline) {
        if (child.hasExited()) throw new Error(`switchboard exited:\n${child.outputTail()}`);
        if ((await servedRevision(origin)) >= revision) return revision;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`switchboard did not serve revision ${revision} within ${RELOAD_TIMEOUT_MS} ms:\n${child.outputTail()}`);
    },
  };
}
