import { GATEWAY_V8_FLAGS, gatewayProcessEnv } from '../../gateway/src/runtime-flags.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readyOrStop, runToCompletion, startChild, type Child } from './child-processes.js';
import { nginxReverseProxyConfig } from './nginx-config.js';
import { benchScript, nodeBinary, repoRoot } from './paths.js';
import { BENCH_HOST, freePorts, waitForHttpOk } from './ports.js';
import { findTool, missingToolLine } from './tools.js';
import type { Target } from './upstreams.js';

/**
 * The things the bench puts between the load generator and the upstreams, each configured the
 * same way: the three upstreams, round robin, keep-alive connections to the upstreams, one
 * worker process/thread (so CPU per request compares one core's work with one core's work).
 */

/** Every contender is asked for this path; Switchboard's route is `/*`, nginx answers anything. */
export const BENCH_PATH = '/bench';

const READY_TIMEOUT_MS = 20_000;

export interface RunningContender {
  /** The URL the load generator hits. */
  url: string;
  /** The proxy's process group, whose CPU and memory are measured; undefined for `direct`. */
  pgid: number | undefined;
  /** Sent with every request of the load (the pipeline's API key); none for the others. */
  headers?: Record<string, string>;
  /** Where the contender's own log goes (the pipeline's access log), when it has one. */
  logFile?: string;
  stop(): Promise<void>;
}

export interface Contender {
  name: string;
  /** One line for the report: what exactly ran. */
  description: string;
  /** Why it cannot run on this machine (with how to fix that), or undefined when it can. */
  unavailableReason(): string | undefined;
  start(workDir: string, targets: Target[]): Promise<RunningContender>;
}

async function startedOrStopped(child: Child, url: string, headers?: Record<string, string>): Promise<RunningContender> {
  await readyOrStop(child, () => waitForHttpOk(url, READY_TIMEOUT_MS, child, headers));
  return { url, pgid: child.pid, headers, stop: () => child.stop() };
}

let startCount = 0;
/** A fresh name per start: the throughput and latency runs each write their own config files. */
function fileStem(name: string): string {
  startCount += 1;
  return `${name}-${startCount}`;
}

/** No proxy: the load goes straight at the first upstream — the floor every proxy adds to. */
export const direct: Contender = {
  name: 'direct',
  description: 'no proxy: load straight at upstream 1 of 3',
  unavailableReason: () => undefined,
  async start(_workDir, targets) {
    const first = targets[0];
    if (first === undefined) throw new Error('no upstream to hit');
    return { url: `http://${first.host}:${first.port}${BENCH_PATH}`, pgid: undefined, stop: async () => {} };
  },
};

function nginxProxyConfig(workDir: string, stem: string, port: number, targets: Target[]): string {
  return nginxReverseProxyConfig({ workDir, stem, host: BENCH_HOST, port, servers: targets.map((t) => `${t.host}:${t.port}`) });
}

export const nginx: Contender = {
  name: 'nginx',
  description: 'nginx reverse proxy, 1 worker, round robin, keepalive 256 to upstreams',
  unavailableReason: () => (findTool('nginx') ? undefined : missingToolLine('nginx', 'skipping the nginx contender')),
  async start(workDir, targets) {
    const binary = findTool('nginx');
    if (binary === undefined) throw new Error('nginx not installed');
    const stem = fileStem('nginx-proxy');
    const [port] = await freePorts(1);
    const configFile = join(workDir, `${stem}.conf`);
    writeFileSync(configFile, nginxProxyConfig(workDir, stem, port!, targets));
    const child = startChild('nginx proxy', binary, [
      '-p', workDir, '-c', configFile, '-e', join(workDir, `${stem}-error.log`),
    ], { cwd: workDir });
    return startedOrStopped(child, `http://${BENCH_HOST}:${port}${BENCH_PATH}`);
  },
};

/**
 * One thread, `http-reuse always` so idle server connections are shared between client
 * connections (HAProxy's closest equivalent of nginx's keepalive pool). No `log` line: logging
 * would be the most expensive thing in the config.
 */
function haproxyConfig(port: number, targets: Target[]): string {
  const servers = targets
    .map((target, index) => `    server up${index + 1} ${target.host}:${target.port}`)
    .join('\n');
  return `global
    nbthread 1
    maxconn 8192

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 120s

frontend bench_in
    bind ${BENCH_HOST}:${port}
    default_backend bench

backend bench
    balance roundrobin
    http-reuse always
${servers}
`;
}

export const haproxy: Contender = {
  name: 'haproxy',
  description: 'HAProxy, mode http, nbthread 1, balance roundrobin, http-reuse always',
  unavailableReason: () => (findTool('haproxy') ? undefined : missingToolLine('haproxy', 'skipping the HAProxy contender')),
  async start(workDir, targets) {
    const binary = findTool('haproxy');
    if (binary === undefined) throw new Error('haproxy not installed');
    const stem = fileStem('haproxy');
    const [port] = await freePorts(1);
    const configFile = join(workDir, `${stem}.cfg`);
    writeFileSync(configFile, haproxyConfig(port!, targets));
    // -db: stay in the foreground, no master process — the one process is the one that works.
    const child = startChild('haproxy', binary, ['-db', '-f', configFile], { cwd: workDir });
    return startedOrStopped(child, `http://${BENCH_HOST}:${port}${BENCH_PATH}`);
  },
};

/**
 * The floor a Node gateway cannot go under: node:http + one undici Pool per upstream, round
 * robin, nothing else (bare-proxy.ts), with the gateway's V8 flags so only the code differs.
 */
export const nodeBare: Contender = {
  name: 'node-bare',
  description: 'bare node:http + undici proxy (dispatch, 1 Pool per upstream, round robin), gateway V8 flags',
  unavailableReason: () => (existsSync(benchScript('bare-proxy.js')) ? undefined : 'node-bare not available: dist/test/bench/bare-proxy.js missing (run `npm run build`)'),
  async start(_workDir, targets) {
    const [port] = await freePorts(1);
    const child = startChild('node-bare proxy', nodeBinary, [
      ...GATEWAY_V8_FLAGS, benchScript('bare-proxy.js'), JSON.stringify({ port, host: BENCH_HOST, targets }),
    ], { cwd: repoRoot, env: gatewayProcessEnv(process.env) });
    return startedOrStopped(child, `http://${BENCH_HOST}:${port}${BENCH_PATH}`);
  },
};

const SWITCHBOARD_CLI = join(repoRoot, 'bin/switchboard.js');
const SWITCHBOARD_MAIN = join(repoRoot, 'dist/gateway/src/main.js');
const IMPORT_TIMEOUT_MS = 30_000;

function switchboardConfig(targets: Target[]): unknown {
  return {
    upstreams: [{
      name: 'bench',
      algorithm: 'round-robin',
      targets: targets.map((target) => ({ url: `http://${target.host}:${target.port}` })),
    }],
    routes: [{ name: 'bench', methods: ['GET'], paths: ['/*'], upstream: 'bench' }],
    consumers: [],
  };
}

/** A start failure with the last lines of the gateway's log file, which no pipe's tail holds. */
function withLogTail(error: unknown, logFile: string | undefined): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (logFile === undefined) return error instanceof Error ? error : new Error(message);
  let tail = '';
  try {
    tail = readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-12).join('\n');
  } catch {
    tail = '(no log written)';
  }
  return new Error(`${message}\ngateway log ${logFile}:\n${tail}`);
}

interface StartedGateway {
  child: Child;
  port: number;
  adminPort: number;
  /** Its stdout, when sent to a file. */
  logFile: string | undefined;
}

/**
 * The gateway exactly as an operator runs it: configuration loaded with `switchboard import`
 * into a fresh embedded store, then the gateway entry point (what npm start runs, one worker)
 * with npm start's V8 flags on that store with the demo off. With `logToFile` its log
 * (access log included) goes to that file through the shell's redirection, not into a pipe
 * the bench would have to read; `exec` keeps the gateway the group leader whose CPU is measured.
 */
async function startGateway(
  name: string,
  workDir: string,
  config: unknown,
  extraEnv: Record<string, string>,
  logToFile = false,
): Promise<StartedGateway> {
  const stem = fileStem(name);
  const logFile = logToFile ? join(workDir, `${stem}-gateway.log`) : undefined;
  const configFile = join(workDir, `${stem}-config.json`);
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const storeUrl = `file:${join(workDir, `${stem}-store.json`)}`;
  const env = { ...process.env, STORE_URL: storeUrl, DEMO: '0', LOG_LEVEL: 'warn', ...extraEnv };

  const imported = await runToCompletion('switchboard import', nodeBinary, [SWITCHBOARD_CLI, 'import', configFile],
    IMPORT_TIMEOUT_MS, { cwd: repoRoot, env });
  if (imported.code !== 0) {
    const why = imported.timedOut ? `timed out after ${IMPORT_TIMEOUT_MS} ms` : `exited ${imported.code}`;
    throw new Error(`switchboard import ${why}:\n${imported.output}`);
  }

  const [port, adminPort] = await freePorts(2);
  const args = [...GATEWAY_V8_FLAGS, SWITCHBOARD_MAIN];
  const childEnv = { ...gatewayProcessEnv(env), PORT: String(port), ADMIN_PORT: String(adminPort), HOST: BENCH_HOST };
  const child = logFile === undefined
    ? startChild(name, nodeBinary, args, { cwd: repoRoot, env: childEnv })
    : startChild(name, '/bin/sh', ['-c', 'exec "$@" >>"$0"', logFile, nodeBinary, ...args], { cwd: repoRoot, env: childEnv });
  try {
    await readyOrStop(child, () => waitForHttpOk(`http://${BENCH_HOST}:${port}/healthz`, READY_TIMEOUT_MS, child));
  } catch (error) {
    throw withLogTail(error, logFile);
  }
  return { child, port: port!, adminPort: adminPort!, logFile };
}

function switchboardUnavailable(): string | undefined {
  const missing = [SWITCHBOARD_CLI, SWITCHBOARD_MAIN].filter((file) => !existsSync(file));
  if (missing.length === 0) return undefined;
  return `Switchboard not available: ${missing.map((file) => file.slice(repoRoot.length)).join(' and ')} missing`
    + ' (run `npm run build`; the CLI and gateway entry point may not be written yet)';
}

export const switchboard: Contender = {
  name: 'switchboard',
  description: 'Switchboard gateway (node), embedded store, round robin, LOG_LEVEL=warn',
  unavailableReason: switchboardUnavailable,
  async start(workDir, targets) {
    const { child, port } = await startGateway('switchboard', workDir, switchboardConfig(targets), {});
    // Healthy is not yet routed: make sure the imported route answers before load starts.
    return startedOrStopped(child, `http://${BENCH_HOST}:${port}${BENCH_PATH}`);
  },
};

/** The partner the pipeline's key belongs to, and the admin who issues it. */
export const PIPELINE_CONSUMER = 'bench-partner';
const PIPELINE_ADMIN = { email: 'bench@example.test', password: 'bench-pipeline-admin-password' };
/**
 * Per consumer per minute: far above what one core can proxy (≈ 20 000 req/s = 1.2 M a minute),
 * so every request is counted and none refused.
 */
const PIPELINE_RATE_LIMIT = 1_000_000_000;
/** The query the pipeline route's schema requires; the load asks for BENCH_PATH with it. */
export const PIPELINE_QUERY = '?model=bench-1';

function pipelineConfig(targets: Target[]): unknown {
  return {
    upstreams: [{
      name: 'bench',
      algorithm: 'least-connections',
      targets: targets.map((target) => ({ url: `http://${target.host}:${target.port}` })),
    }],
    routes: [{
      name: 'bench',
      methods: ['GET'],
      paths: ['/*'],
      upstream: 'bench',
      auth: 'api-key',
      rateLimit: { max: PIPELINE_RATE_LIMIT, windowMs: 60_000, by: 'consumer' },
      schema: {
        querystring: {
          type: 'object',
          properties: { model: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]{0,63}$' } },
          required: ['model'],
          additionalProperties: false,
        },
      },
    }],
    consumers: [{ name: PIPELINE_CONSUMER }],
  };
}

async function adminCall(adminUrl: string, method: string, path: string, body: unknown, token?: string): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${adminUrl}/api/v1${path}`, {
    method, headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: text };
  }
}

/**
 * Keys exist only as HMACs at rest, so none can be imported: the key is issued the way an
 * operator issues one, through the admin API (log in, POST /consumers/{id}/keys), and shown once.
 */
async function issuePipelineKey(adminPort: number): Promise<string> {
  const adminUrl = `http://${BENCH_HOST}:${adminPort}`;
  await waitForHttpOk(`${adminUrl}/healthz`, READY_TIMEOUT_MS);
  const login = await adminCall(adminUrl, 'POST', '/auth/login', PIPELINE_ADMIN);
  if (login.status !== 200) throw new Error(`admin login answered ${login.status}: ${JSON.stringify(login.body)}`);
  const issued = await adminCall(adminUrl, 'POST', `/consumers/${PIPELINE_CONSUMER}/keys`, {}, login.body.token as string);
  if (issued.status !== 201 && issued.status !== 200) throw new Error(`issuing a key answered ${issued.status}: ${JSON.stringify(issued.body)}`);
  return issued.body.key as string;
}


/**
 * The issue-12 partner pipeline on the bench route: API key, a local rate limit that counts but
 * never refuses, a querystring schema, least-connections, metrics (always on) and one access-log
 * line per request written to a file.
 */
export const switchboardPipeline: Contender = {
  name: 'switchboard-pipeline',
  description: 'Switchboard, full partner pipeline: api-key + rate limit + querystring schema + least-connections + metrics + ACCESS_LOG=1 to a file',
  unavailableReason: switchboardUnavailable,
  async start(workDir, targets) {
    const { child, port, adminPort, logFile } = await startGateway('switchboard-pipeline', workDir, pipelineConfig(targets), {
      ACCESS_LOG: '1',
      // The access log is written at info; warn would drop every line of it.
      LOG_LEVEL: 'info',
      ADMIN_EMAIL: PIPELINE_ADMIN.email,
      ADMIN_PASSWORD: PIPELINE_ADMIN.password,
    }, true);
    try {
      const key = await issuePipelineKey(adminPort);
      // Issued is not yet in force: the key reaches the route with the next generation.
      const running = await startedOrStopped(child, `http://${BENCH_HOST}:${port}${BENCH_PATH}${PIPELINE_QUERY}`, { 'x-api-key': key });
      return { ...running, logFile };
    } catch (error) {
      await child.stop();
      throw withLogTail(error, logFile);
    }
  },
};

export const allContenders: Contender[] = [direct, nodeBare, nginx, haproxy, switchboard, switchboardPipeline];
