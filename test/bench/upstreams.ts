import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startChild, type Child, readyOrStop } from './child-processes.js';
import { fixedBody } from './fixed-body.js';
import { nginxTempPaths } from './nginx-config.js';
import { benchScript, nodeBinary } from './paths.js';
import { BENCH_HOST, freePorts, waitForHttpOk } from './ports.js';
import { findTool, missingToolLine } from './tools.js';

export interface Target {
  host: string;
  port: number;
}

/** Three upstream servers, all served by one process (group) the bench started. */
export interface UpstreamSet {
  /** What serves them, for the report: "nginx 1 process" or "node:http". */
  description: string;
  targets: Target[];
  /** Lines the report should show, e.g. that nginx was missing and node:http stood in. */
  notes: string[];
  stop(): Promise<void>;
}

const UPSTREAM_COUNT = 3;
const READY_TIMEOUT_MS = 10_000;

async function waitForAll(targets: Target[], child: Child): Promise<void> {
  for (const target of targets) {
    await waitForHttpOk(`http://${target.host}:${target.port}/`, READY_TIMEOUT_MS, child);
  }
}

async function startNodeUpstreams(workDir: string, delayMs: number, bodyBytes: number): Promise<UpstreamSet> {
  const ports = await freePorts(UPSTREAM_COUNT);
  const targets = ports.map((port) => ({ host: BENCH_HOST, port }));
  const child = startChild('node:http upstreams', nodeBinary, [
    benchScript('upstream-server.js'),
    JSON.stringify({ ports, delayMs, bodyBytes }),
  ], { cwd: workDir });
  await readyOrStop(child, () => waitForAll(targets, child));
  const delay = delayMs > 0 ? `, answers after ${delayMs} ms` : '';
  return {
    description: `node:http, 1 process, ${UPSTREAM_COUNT} ports${delay}`,
    targets,
    notes: [],
    stop: () => child.stop(),
  };
}

/**
 * nginx is the cheapest upstream there is, so in the throughput run the upstreams take as
 * little of the two shared cores as possible. One process (`master_process off`) serves all
 * three ports; `keepalive_requests` is raised because after nginx's default of 1000 it would
 * close the proxies' pooled connections and the run would measure reconnects.
 */
function nginxUpstreamConfig(workDir: string, ports: number[], bodyBytes: number): string {
  const servers = ports
    .map((port) => `    server {\n      listen ${BENCH_HOST}:${port};\n      location / { return 200 "${fixedBody(bodyBytes)}"; }\n    }`)
    .join('\n');
  return `daemon off;
master_process off;
worker_processes 1;
pid ${join(workDir, 'nginx-upstreams.pid')};
error_log ${join(workDir, 'nginx-upstreams-error.log')} warn;
events { worker_connections 4096; }
http {
    access_log off;
${nginxTempPaths(workDir, 'nginx-upstreams')}
    default_type text/plain;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
${servers}
}
`;
}

/** The throughput run's upstreams: nginx when installed, else node:http (and the report says so). */
export async function startFastUpstreams(workDir: string, bodyBytes: number): Promise<UpstreamSet> {
  const nginx = findTool('nginx');
  if (nginx === undefined) {
    const upstreams = await startNodeUpstreams(workDir, 0, bodyBytes);
    upstreams.notes.push(missingToolLine('nginx', 'the upstreams are node:http instead (slower, so all req/s figures are lower)'));
    return upstreams;
  }
  const ports = await freePorts(UPSTREAM_COUNT);
  const targets = ports.map((port) => ({ host: BENCH_HOST, port }));
  const configFile = join(workDir, 'nginx-upstreams.conf');
  writeFileSync(configFile, nginxUpstreamConfig(workDir, ports, bodyBytes));
  const child = startChild('nginx upstreams', nginx, [
    '-p', workDir, '-c', configFile, '-e', join(workDir, 'nginx-upstreams-error.log'),
  ], { cwd: workDir });
  await readyOrStop(child, () => waitForAll(targets, child));
  return {
    description: `nginx, 1 process, ${UPSTREAM_COUNT} ports, ${bodyBytes}-byte body`,
    targets,
    notes: [],
    stop: () => child.stop(),
  };
}

/** The latency run's upstreams: node:http answering after `delayMs` on a timer. */
export function startDelayedUpstreams(workDir: string, delayMs: number, bodyBytes: number): Promise<UpstreamSet> {
  return startNodeUpstreams(workDir, delayMs, bodyBytes);
}
