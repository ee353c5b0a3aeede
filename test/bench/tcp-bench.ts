/**
 * `npm run bench -- tcp`: TCP (L4) streams side by side with HAProxy `mode tcp`, a bare Node
 * proxy (accept, connect, pipe: Node's own floor) and the target directly, in one run, rounds interleaved. Two loads per contender: bulk transfer
 * over long-lived connections (MB/s, proxy CPU seconds per GB) and connection churn (one 32-byte
 * exchange per connection: connections/s, proxy CPU µs per connection). Both proxies run one
 * process on one thread (HAProxy nbthread 1; Switchboard WORKERS=1), to one echo target process.
 * The loader runs inside the bench process; on a small machine it shares cores with the proxy, so
 * compare the proxies' CPU per unit of work, not their absolute rates.
 */
import { availableParallelism } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readyOrStop, startChild, type Child } from './child-processes.js';
import { startGatewayChild } from './gateway-child.js';
import { benchScript, nodeBinary, repoRoot } from './paths.js';
import { BENCH_HOST, freePorts, waitForHttpOk } from './ports.js';
import { cpuSecondsDuring, waitUntilIdle } from './proc-stats.js';
import { formatNumber, formatTable, NOT_APPLICABLE, writeResults } from './report.js';
import type { BenchSettings } from './settings.js';
import { connectionRate, echoes, throughput } from './tcp-load.js';
import { findTool, missingToolLine } from './tools.js';

interface Running {
  name: string;
  description: string;
  port: number;
  /** The proxy process (none for the direct floor). */
  child: Child | undefined;
}

async function waitForEcho(port: number, child: Child | undefined, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child?.hasExited()) throw new Error(`${child.name} exited before port ${port} echoed:\n${child.outputTail()}`);
    if (await echoes(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} did not echo within ${timeoutMs} ms${child ? `\n${child.outputTail()}` : ''}`);
}

async function startHaproxy(workDir: string, targetPort: number): Promise<Running | string> {
  const binary = findTool('haproxy');
  if (binary === undefined) return missingToolLine('haproxy', 'skipping the HAProxy contender');
  const [port] = await freePorts(1);
  const configFile = join(workDir, 'tcp-haproxy.cfg');
  writeFileSync(
    configFile,
    `global
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend tcp_in
    bind ${BENCH_HOST}:${port}
    default_backend tcp_pool
backend tcp_pool
    balance roundrobin
    server s0 ${BENCH_HOST}:${targetPort}
`,
  );
  const child = startChild('haproxy (mode tcp)', binary, ['-db', '-f', configFile], { cwd: workDir });
  await readyOrStop(child, () => waitForEcho(port!, child));
  return { name: 'haproxy', description: 'HAProxy mode tcp, nbthread 1, roundrobin', port: port!, child };
}

async function startBareProxy(targetPort: number): Promise<Running> {
  const [port] = await freePorts(1);
  const child = startChild('bare node proxy', nodeBinary, [benchScript('tcp-bare-proxy.js'), JSON.stringify({ port, target: targetPort })]);
  await readyOrStop(child, () => waitForEcho(port!, child));
  return { name: 'node-bare', description: 'net.createServer + connect + pipe both ways: what any Node TCP proxy pays', port: port!, child };
}

async function startSwitchboard(workDir: string, targetPort: number): Promise<Running> {
  const storePath = join(workDir, 'tcp-switchboard.json');
  const [port, streamPort, adminPort] = await freePorts(3);
  const child = await startGatewayChild('switchboard (stream)', {
    storePath,
    config: {
      upstreams: [{ name: 'tcp-pool', targets: [{ url: `http://${BENCH_HOST}:${targetPort}` }] }],
      routes: [],
      streams: [{ name: 'bench', port: streamPort, upstream: 'tcp-pool' }],
    },
    port: port!,
    adminPort: adminPort!,
  });
  await readyOrStop(child, async () => {
    await waitForHttpOk(`http://${BENCH_HOST}:${port}/healthz`, 60_000, child);
    await waitForEcho(streamPort!, child);
  });
  return { name: 'switchboard', description: 'Switchboard TCP stream, WORKERS=1, round robin', port: streamPort!, child };
}

interface Figures {
  bytes: number;
  bulkSeconds: number;
  bulkCpu: number;
  connections: number;
  churnSeconds: number;
  churnCpu: number;
  errors: number;
}

export async function runTcpBench(settings: BenchSettings, workDir: string): Promise<void> {
  const [targetPort] = await freePorts(1);
  const target = startChild('tcp echo target', nodeBinary, [benchScript('tcp-echo-server.js'), JSON.stringify({ port: targetPort })]);
  const running: Running[] = [];
  const notes: string[] = [];
  try {
    await readyOrStop(target, () => waitForEcho(targetPort!, target));
    running.push({ name: 'direct', description: 'the echo target itself (no proxy): the floor', port: targetPort!, child: undefined });
    const haproxy = await startHaproxy(workDir, targetPort!);
    if (typeof haproxy === 'string') notes.push(haproxy);
    else running.push(haproxy);
    running.push(await startBareProxy(targetPort!));
    running.push(await startSwitchboard(workDir, targetPort!));
    const connections = Math.max(1, Math.min(settings.connections, 16));
    const figures = new Map<string, Figures>(running.map((r) => [r.name, { bytes: 0, bulkSeconds: 0, bulkCpu: 0, connections: 0, churnSeconds: 0, churnCpu: 0, errors: 0 }]));
    process.stdout.write(`\ntcp: warming up ${running.map((r) => r.name).join(', ')}…\n`);
    for (const r of running) if (r.child) await waitUntilIdle(r.child.pid);
    for (const r of running) {
      await throughput(r.port, connections, settings.warmupSeconds / 2);
      await connectionRate(r.port, connections, settings.warmupSeconds / 2);
    }
    for (const r of running) if (r.child) await waitUntilIdle(r.child.pid, 5_000);
    // What each proxy burns with no traffic (the gateway's timers: store watch, probes, metrics
    // windows); on a slow machine it is a visible share of CPU per GB, so the net figure is shown too.
    const idleCpuPerSecond = new Map<string, number>();
    for (const r of running) {
      if (r.child === undefined) continue;
      idleCpuPerSecond.set(r.name, (await cpuSecondsDuring(r.child.pid, () => new Promise((resolve) => setTimeout(resolve, 2000)))) / 2);
    }
    const window = settings.durationSeconds / settings.rounds / 2;
    const cpuOf = async (r: Running, work: () => Promise<void>): Promise<number> => {
      if (r.child === undefined) {
        await work();
        return NaN;
      }
      return cpuSecondsDuring(r.child.pid, work);
    };
    for (let round = 0; round < settings.rounds; round++)
      for (const r of running) {
        const f = figures.get(r.name)!;
        f.bulkCpu += await cpuOf(r, async () => {
          const got = await throughput(r.port, connections, window);
          f.bytes += got.bytes;
          f.bulkSeconds += got.seconds;
          f.errors += got.errors;
        });
        f.churnCpu += await cpuOf(r, async () => {
          const got = await connectionRate(r.port, connections, window);
          f.connections += got.connections;
          f.churnSeconds += got.seconds;
          f.errors += got.errors;
        });
      }
    const rows = running.map((r) => {
      const f = figures.get(r.name)!;
      return {
        contender: r.name,
        description: r.description,
        megabytesPerSecond: f.bytes / f.bulkSeconds / 1e6,
        cpuSecondsPerGigabyte: f.bulkCpu / (f.bytes / 1e9),
        idleCpuPercent: 100 * (idleCpuPerSecond.get(r.name) ?? NaN),
        netCpuSecondsPerGigabyte: (f.bulkCpu - (idleCpuPerSecond.get(r.name) ?? NaN) * f.bulkSeconds) / (f.bytes / 1e9),
        connectionsPerSecond: f.connections / f.churnSeconds,
        cpuUsPerConnection: (f.churnCpu / f.connections) * 1e6,
        netCpuUsPerConnection: ((f.churnCpu - (idleCpuPerSecond.get(r.name) ?? NaN) * f.churnSeconds) / f.connections) * 1e6,
        errors: f.errors,
      };
    });
    const sb = rows.find((r) => r.contender === 'switchboard');
    const ha = rows.find((r) => r.contender === 'haproxy');
    const bare = rows.find((r) => r.contender === 'node-bare');
    const ratios = sb && ha ? { cpuPerGigabyte: sb.cpuSecondsPerGigabyte / ha.cpuSecondsPerGigabyte, cpuPerConnection: sb.cpuUsPerConnection / ha.cpuUsPerConnection } : undefined;
    const overNode = sb && bare ? { cpuPerGigabyte: sb.cpuSecondsPerGigabyte / bare.cpuSecondsPerGigabyte, cpuPerConnection: sb.cpuUsPerConnection / bare.cpuUsPerConnection } : undefined;
    const cpus = availableParallelism();
    notes.push(`${cpus} CPUs: the loader (this process), the echo target and the proxy share them; compare CPU per GB and per connection, not absolute rates`);
    process.stdout.write(
      `\nTCP streams: ${connections} connections, ${settings.rounds} round(s) interleaved, ${window.toFixed(1)} s per load per round\n\n` +
        formatTable(
          [{ header: 'contender' }, { header: 'idle CPU %' }, { header: 'MB/s (echoed)' }, { header: 'CPU s/GB (net of idle)' }, { header: 'conn/s' }, { header: 'CPU µs/conn (net of idle)' }, { header: 'errors' }],
          rows.map((r) => [
            r.contender,
            Number.isFinite(r.idleCpuPercent) ? formatNumber(r.idleCpuPercent, 1) : NOT_APPLICABLE,
            formatNumber(r.megabytesPerSecond, 1),
            Number.isFinite(r.cpuSecondsPerGigabyte) ? `${formatNumber(r.cpuSecondsPerGigabyte, 2)} (${formatNumber(r.netCpuSecondsPerGigabyte, 2)})` : NOT_APPLICABLE,
            formatNumber(r.connectionsPerSecond),
            Number.isFinite(r.cpuUsPerConnection) ? `${formatNumber(r.cpuUsPerConnection, 1)} (${formatNumber(r.netCpuUsPerConnection, 1)})` : NOT_APPLICABLE,
            formatNumber(r.errors),
          ]),
        ) +
        '\n\n' +
        [
          ...(ratios ? [`Switchboard / HAProxy: CPU per GB ×${ratios.cpuPerGigabyte.toFixed(2)}, CPU per connection ×${ratios.cpuPerConnection.toFixed(2)}`] : []),
          ...(overNode ? [`Switchboard / bare Node proxy: CPU per GB ×${overNode.cpuPerGigabyte.toFixed(2)}, CPU per connection ×${overNode.cpuPerConnection.toFixed(2)}`] : []),
          ...notes,
        ].join('\n') +
        '\n',
    );
    const files = writeResults('tcp', { cpus, connections, rounds: settings.rounds, windowSeconds: window, rows, ratios, overNode, notes });
    process.stdout.write(`wrote ${files.map((f) => f.slice(repoRoot.length)).join(', ')}\n`);
  } finally {
    for (const r of running) await r.child?.stop();
    await target.stop();
  }
}

export const tcpBenchmark = {
  summary: 'TCP streams vs HAProxy mode tcp: MB/s and CPU per GB (bulk), connections/s and CPU per connection (churn)',
  budgetSeconds: (settings: BenchSettings) => settings.warmupSeconds * 3 + settings.durationSeconds * 3 + 180,
  run: runTcpBench,
};
