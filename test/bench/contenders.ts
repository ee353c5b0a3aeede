import { GATEWAY_V8_FLAGS } from '../../gateway/src/runtime-flags.js';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readyOrStop, runToCompletion, startChild, type Child } from './child-processes.js';
import { nginxReverseProxyConfig } from './nginx-config.js';
import { nodeBinary, repoRoot } from './paths.js';
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

async function startedOrStopped(child: Child, url: string): Promise<RunningContender> {
  await readyOrStop(child, () => waitForHttpOk(url, READY_TIMEOUT_MS, child));
  return { url, pgid: child.pid, stop: () => child.stop() };
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

/**
 * The gateway exactly as an operator runs it: configuration loaded with `switchboard import`
 * into a fresh embedded store, then `switchboard start` with npm start's V8 flags
 * on that store with the demo off.
 */
export const switchboard: Contender = {
  name: 'switchboard',
  description: 'Switchboard gateway (node), embedded store, round robin, LOG_LEVEL=warn',
  unavailableReason() {
    const missing = [SWITCHBOARD_CLI, SWITCHBOARD_MAIN].filter((file) => !existsSync(file));
    if (missing.length === 0) return undefined;
    return `Switchboard not available: ${missing.map((file) => file.slice(repoRoot.length)).join(' and ')} missing`
      + ' (run `npm run build`; the CLI and gateway entry point may not be written yet)';
  },
  async start(workDir, targets) {
    const stem = fileStem('switchboard');
    const configFile = join(workDir, `${stem}-config.json`);
    writeFileSync(configFile, JSON.stringify(switchboardConfig(targets), null, 2));
    const storeUrl = `file:${join(workDir, `${stem}-store.json`)}`;
    const env = { ...process.env, STORE_URL: storeUrl, DEMO: '0', LOG_LEVEL: 'warn' };

    const imported = await runToCompletion('switchboard import', nodeBinary, [SWITCHBOARD_CLI, 'import', configFile],
      IMPORT_TIMEOUT_MS, { cwd: repoRoot, env });
    if (imported.code !== 0) {
      const why = imported.timedOut ? `timed out after ${IMPORT_TIMEOUT_MS} ms` : `exited ${imported.code}`;
      throw new Error(`switchboard import ${why}:\n${imported.output}`);
    }

    const [port, adminPort] = await freePorts(2);
    const child = startChild('switchboard', nodeBinary, [...GATEWAY_V8_FLAGS, SWITCHBOARD_MAIN], {
      cwd: repoRoot,
      env: { ...env, PORT: String(port), ADMIN_PORT: String(adminPort), HOST: BENCH_HOST },
    });
    await readyOrStop(child, () => waitForHttpOk(`http://${BENCH_HOST}:${port}/healthz`, READY_TIMEOUT_MS, child));
    // Healthy is not yet routed: make sure the imported route answers before load starts.
    return startedOrStopped(child, `http://${BENCH_HOST}:${port}${BENCH_PATH}`);
  },
};

export const allContenders: Contender[] = [direct, nginx, haproxy, switchboard];
