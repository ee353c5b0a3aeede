import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_V8_FLAGS, gatewayProcessEnv } from '../../gateway/src/runtime-flags.js';
import { readyOrStop, startChild, type Child } from '../bench/child-processes.js';
import { nodeBinary, repoRoot } from '../bench/paths.js';
import { BENCH_HOST, freePorts, waitForHttpOk } from '../bench/ports.js';

/**
 * The parts a chaos case breaks, each a real process on 127.0.0.1: the gateway exactly as
 * `npm start` runs it (same V8 flags, embedded file store, demo off) and simulated GPU workers
 * (gateway/src/simulator/main.ts), so kill -9 and SIGSTOP hit a real process and not a socket
 * in the suite's own event loop.
 */

export const HOST = BENCH_HOST;
const GATEWAY_MAIN = join(repoRoot, 'dist/gateway/src/main.js');
const SIMULATOR_MAIN = join(repoRoot, 'dist/gateway/src/simulator/main.js');
const ADMIN = { email: 'chaos@example.test', password: 'chaos-suite-password' };

export function workDir(name: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `switchboard-chaos-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Worker {
  url: string;
  port: number;
  child: Child;
}

/** One simulated GPU worker per process, so one can be killed or frozen alone. */
export async function startWorkers(count: number, name = 'w'): Promise<Worker[]> {
  const ports = await freePorts(count);
  return Promise.all(ports.map(async (port, i) => {
    const child = startChild(`worker ${name}${i + 1}`, nodeBinary, [SIMULATOR_MAIN, '--port', String(port), '--host', HOST, '--name', `${name}${i + 1}`]);
    const url = `http://${HOST}:${port}`;
    await readyOrStop(child, () => waitForHttpOk(`${url}/health`, 10_000, child));
    return { url, port, child };
  }));
}

export interface Gateway {
  child: Child;
  pid: number;
  publicUrl: string;
  port: number;
  adminUrl: string;
  storeFile: string;
  /** Everything the process printed (stdout and stderr), for log-line checks. */
  output(): string;
  alive(): boolean;
  admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  putConfig(config: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/**
 * CHAOS_GATEWAY_NODE_FLAGS="--trace-gc …" adds flags to every gateway a case starts, for looking
 * into one (V8 flags such as --trace-gc are refused in NODE_OPTIONS, so they go on the command line).
 */
function debugFlags(): string[] {
  return (process.env.CHAOS_GATEWAY_NODE_FLAGS ?? '').split(' ').filter(Boolean);
}

export async function startGateway(dir: string, env: Record<string, string> = {}): Promise<Gateway> {
  const [port, adminPort] = await freePorts(2);
  const storeFile = join(dir, 'store.json');
  let output = '';
  const child = startChild('switchboard', nodeBinary, [...GATEWAY_V8_FLAGS, ...debugFlags(), GATEWAY_MAIN], {
    cwd: repoRoot,
    env: {
      ...gatewayProcessEnv(process.env),
      STORE_URL: `file:${storeFile}`,
      DEMO: '0',
      HOST,
      PORT: String(port),
      ADMIN_HOST: HOST,
      ADMIN_PORT: String(adminPort),
      ADMIN_EMAIL: ADMIN.email,
      ADMIN_PASSWORD: ADMIN.password,
      LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn',
      ...env,
    },
    keepStdout: true,
  });
  const publicUrl = `http://${HOST}:${port}`;
  const adminUrl = `http://${HOST}:${adminPort}`;
  await readyOrStop(child, async () => {
    await waitForHttpOk(`${publicUrl}/healthz`, 20_000, child);
    // The admin listener starts after the public one (main.ts).
    await waitForHttpOk(`${adminUrl}/healthz`, 20_000, child);
  });
  let token = '';
  const admin = async (method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${adminUrl}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text for the report
    }
    return { status: response.status, body: parsed as any };
  };
  const login = await admin('POST', '/auth/login', ADMIN);
  if (login.status !== 200) throw new Error(`admin login answered ${login.status}: ${JSON.stringify(login.body)}`);
  token = login.body.token;
  return {
    child,
    pid: child.pid,
    publicUrl,
    port,
    adminUrl,
    storeFile,
    // stdout is kept whole; stderr only as a tail, which is where pino does not write anyway.
    output: () => `${child.stdout()}\n${child.outputTail()}`,
    alive: () => !child.hasExited(),
    admin,
    putConfig: (config) => admin('PUT', '/config', config),
    stop: () => child.stop(),
  };
}

/** Resident set size of one process, from the kernel (VmRSS in /proc/PID/status). */
export function rssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export const MiB = 1024 * 1024;

/** Polls until `check` holds; returns the ms it took, or undefined on timeout. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await sleep(everyMs);
  }
  return undefined;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
