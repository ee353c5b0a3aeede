/**
 * `npm run bench -- tls`: the TLS listener beside nginx (ssl + http2) with the same certificate,
 * in one run, rounds interleaved.
 * - Handshakes: full TLS 1.3 handshakes (no resumption), 8 at a time from this process, each
 *   closed once established; handshakes/s and the proxy's CPU µs per handshake, for an ECDSA
 *   P-256 and an RSA 2048 certificate.
 * - HTTP/2: h2load (nghttp2-client), 1 connection × 64 concurrent streams, GET / proxied to the
 *   same upstreams; requests/s and CPU µs per request; and Switchboard's own HTTP/1.1 figure
 *   (h2load --h1, 64 keep-alive connections, plain port) for the h2/h1 ratio.
 * Both proxies run one process (nginx worker_processes 1; Switchboard WORKERS=1). On a small
 * machine the loader shares cores with them: compare CPU per unit of work, not absolute rates.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { makeCertificate, type TestCertificate } from '../edge/test-certs.js';
import { readyOrStop, startChild, type Child } from './child-processes.js';
import { startGatewayChild } from './gateway-child.js';
import { nginxTempPaths } from './nginx-config.js';
import { repoRoot } from './paths.js';
import { BENCH_HOST, freePorts, waitForHttpOk } from './ports.js';
import { cpuSecondsDuring } from './proc-stats.js';
import { formatNumber, formatTable, NOT_APPLICABLE, writeResults } from './report.js';
import type { BenchSettings } from './settings.js';
import { findTool, missingToolLine } from './tools.js';
import { startFastUpstreams, type Target } from './upstreams.js';

const run = promisify(execFile);
const HANDSHAKE_CONCURRENCY = 8;
const H2_STREAMS = 64;

interface Running {
  name: string;
  child: Child;
  tlsPort: number;
  /** Switchboard's plain port, for its HTTP/1.1 baseline. */
  plainPort?: number;
}

function nginxTlsConfig(workDir: string, stem: string, port: number, cert: TestCertificate, targets: Target[]): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${join(workDir, `${stem}.pid`)};
error_log ${join(workDir, `${stem}-error.log`)} warn;
events { worker_connections 4096; }
http {
    access_log off;
${nginxTempPaths(workDir, stem)}
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    upstream pool {
${targets.map((t) => `        server ${t.host}:${t.port};`).join('\n')}
        keepalive 256;
    }
    server {
        listen ${BENCH_HOST}:${port} ssl http2;
        ssl_certificate ${cert.certFile};
        ssl_certificate_key ${cert.keyFile};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets off;
        ssl_session_cache off;
        http2_max_concurrent_streams 128;
        location / {
            proxy_pass http://pool;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`;
}

async function startNginx(workDir: string, cert: TestCertificate, targets: Target[], label: string): Promise<Running | string> {
  const binary = findTool('nginx');
  if (binary === undefined) return missingToolLine('nginx', 'skipping the nginx contender');
  const stem = `tls-nginx-${label}`;
  const [port] = await freePorts(1);
  const configFile = join(workDir, `${stem}.conf`);
  writeFileSync(configFile, nginxTlsConfig(workDir, stem, port!, cert, targets));
  const child = startChild(`nginx tls (${label})`, binary, ['-p', workDir, '-c', configFile, '-e', join(workDir, `${stem}-error.log`)], { cwd: workDir });
  await readyOrStop(child, () => waitForHandshake(port!, child));
  return { name: 'nginx', child, tlsPort: port! };
}

async function startSwitchboard(workDir: string, cert: TestCertificate, targets: Target[], label: string): Promise<Running> {
  const [port, tlsPort, adminPort] = await freePorts(3);
  const child = await startGatewayChild(`switchboard tls (${label})`, {
    storePath: join(workDir, `tls-switchboard-${label}.json`),
    config: { upstreams: [{ name: 'pool', targets: targets.map((t) => ({ url: `http://${t.host}:${t.port}` })) }], routes: [{ name: 'all', paths: ['/*'], upstream: 'pool' }] },
    port: port!,
    adminPort: adminPort!,
    env: { TLS_PORT: String(tlsPort), TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile },
  });
  await readyOrStop(child, async () => {
    await waitForHttpOk(`http://${BENCH_HOST}:${port}/healthz`, 60_000, child);
    await waitForHandshake(tlsPort!, child);
  });
  return { name: 'switchboard', child, tlsPort: tlsPort!, plainPort: port! };
}

function handshakeOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: BENCH_HOST, port, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitForHandshake(port: number, child: Child, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.hasExited()) throw new Error(`${child.name} exited before its TLS port answered:\n${child.outputTail()}`);
    if (await handshakeOnce(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`TLS port ${port} did not answer within ${timeoutMs} ms\n${child.outputTail()}`);
}

/** Full handshakes for `seconds`, HANDSHAKE_CONCURRENCY at a time. */
async function handshakes(port: number, seconds: number): Promise<{ count: number; errors: number; seconds: number }> {
  const started = performance.now();
  const end = started + seconds * 1000;
  let count = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: HANDSHAKE_CONCURRENCY }, async () => {
      while (performance.now() < end) {
        if (await handshakeOnce(port)) count++;
        else errors++;
      }
    }),
  );
  return { count, errors, seconds: (performance.now() - started) / 1000 };
}

/** h2load's "requests: N total, N started, N done, N succeeded" line. */
async function h2load(args: string[]): Promise<{ succeeded: number; failed: number }> {
  const { stdout } = await run('h2load', args, { maxBuffer: 16 << 20 });
  const line = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed/.exec(stdout);
  if (!line) throw new Error(`h2load printed no request counts:\n${stdout.slice(-800)}`);
  return { succeeded: Number(line[4]), failed: Number(line[5]) };
}

interface Figures {
  handshakes: number;
  handshakeSeconds: number;
  handshakeCpu: number;
  handshakeErrors: number;
  h2Requests: number;
  h2Seconds: number;
  h2Cpu: number;
  h2Failed: number;
  h1Requests: number;
  h1Seconds: number;
  h1Cpu: number;
}

const empty = (): Figures => ({ handshakes: 0, handshakeSeconds: 0, handshakeCpu: 0, handshakeErrors: 0, h2Requests: 0, h2Seconds: 0, h2Cpu: 0, h2Failed: 0, h1Requests: 0, h1Seconds: 0, h1Cpu: 0 });

export async function runTlsBench(settings: BenchSettings, workDir: string): Promise<void> {
  const notes: string[] = [];
  const hasH2load = ['/usr/bin/h2load', '/usr/local/bin/h2load'].some((p) => existsSync(p));
  if (!hasH2load) notes.push('h2load not installed (Debian: nghttp2-client): the HTTP/2 figures are skipped');
  const upstreams = await startFastUpstreams(workDir, 64);
  notes.push(...upstreams.notes);
  const window = settings.durationSeconds / settings.rounds / 3;
  const rows: Array<Record<string, string | number>> = [];
  const byKey: Record<string, Record<string, Figures>> = {};
  try {
    for (const type of ['ec', 'rsa'] as const) {
      const label = type === 'ec' ? 'ECDSA P-256' : 'RSA 2048';
      const cert = makeCertificate({ cn: 'localhost', type });
      const running: Running[] = [];
      try {
        const nginx = await startNginx(workDir, cert, upstreams.targets, type);
        if (typeof nginx === 'string') notes.push(nginx);
        else running.push(nginx);
        running.push(await startSwitchboard(workDir, cert, upstreams.targets, type));
        const figures: Record<string, Figures> = Object.fromEntries(running.map((r) => [r.name, empty()]));
        process.stdout.write(`\ntls (${label}): warming up ${running.map((r) => r.name).join(', ')}…\n`);
        for (const r of running) {
          await handshakes(r.tlsPort, settings.warmupSeconds);
          // Upstream connections, JIT and HPACK tables warm before anything is measured.
          if (type === 'ec' && hasH2load) {
            const warm = String(Math.max(1, Math.round(settings.warmupSeconds)));
            await h2load(['-c', '1', '-m', String(H2_STREAMS), '-D', warm, `https://${BENCH_HOST}:${r.tlsPort}/`]);
            if (r.plainPort !== undefined) await h2load(['--h1', '-c', String(H2_STREAMS), '-D', warm, `http://${BENCH_HOST}:${r.plainPort}/`]);
          }
        }
        for (let round = 0; round < settings.rounds; round++)
          for (const r of running) {
            const f = figures[r.name]!;
            f.handshakeCpu += await cpuSecondsDuring(r.child.pid, async () => {
              const got = await handshakes(r.tlsPort, window);
              f.handshakes += got.count;
              f.handshakeSeconds += got.seconds;
              f.handshakeErrors += got.errors;
            });
            // HTTP/2 throughput once, with the ECDSA certificate (the handshake is not what it measures).
            if (type !== 'ec' || !hasH2load) continue;
            const duration = Math.max(1, Math.round(window));
            f.h2Cpu += await cpuSecondsDuring(r.child.pid, async () => {
              const got = await h2load(['-c', '1', '-m', String(H2_STREAMS), '-D', String(duration), `https://${BENCH_HOST}:${r.tlsPort}/`]);
              f.h2Requests += got.succeeded;
              f.h2Failed += got.failed;
              f.h2Seconds += duration;
            });
            if (r.plainPort !== undefined)
              f.h1Cpu += await cpuSecondsDuring(r.child.pid, async () => {
                const got = await h2load(['--h1', '-c', String(H2_STREAMS), '-D', String(duration), `http://${BENCH_HOST}:${r.plainPort}/`]);
                f.h1Requests += got.succeeded;
                f.h1Seconds += duration;
              });
          }
        byKey[type] = figures;
        for (const r of running) {
          const f = figures[r.name]!;
          rows.push({
            certificate: label,
            contender: r.name,
            handshakesPerSecond: f.handshakes / f.handshakeSeconds,
            cpuUsPerHandshake: (f.handshakeCpu / f.handshakes) * 1e6,
            handshakeErrors: f.handshakeErrors,
            h2RequestsPerSecond: f.h2Seconds ? f.h2Requests / f.h2Seconds : NaN,
            cpuUsPerH2Request: f.h2Requests ? (f.h2Cpu / f.h2Requests) * 1e6 : NaN,
            cpuUsPerH1Request: f.h1Requests ? (f.h1Cpu / f.h1Requests) * 1e6 : NaN,
            h2Failed: f.h2Failed,
          });
        }
      } finally {
        for (const r of running) await r.child.stop();
        cert.cleanup();
      }
    }
  } finally {
    await upstreams.stop();
  }
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : undefined);
  const find = (cert: string, name: string) => rows.find((r) => r.certificate === cert && r.contender === name);
  const ratios = {
    handshakeCpuVsNginxEcdsa: ratio(find('ECDSA P-256', 'switchboard')?.cpuUsPerHandshake as number, find('ECDSA P-256', 'nginx')?.cpuUsPerHandshake as number),
    handshakeCpuVsNginxRsa: ratio(find('RSA 2048', 'switchboard')?.cpuUsPerHandshake as number, find('RSA 2048', 'nginx')?.cpuUsPerHandshake as number),
    h2CpuVsOwnH1: ratio(find('ECDSA P-256', 'switchboard')?.cpuUsPerH2Request as number, find('ECDSA P-256', 'switchboard')?.cpuUsPerH1Request as number),
    h2CpuVsNginx: ratio(find('ECDSA P-256', 'switchboard')?.cpuUsPerH2Request as number, find('ECDSA P-256', 'nginx')?.cpuUsPerH2Request as number),
  };
  const cpus = availableParallelism();
  notes.push(`${cpus} CPUs: the loader (this process or h2load), the upstreams and the proxy share them; compare CPU per unit of work, not absolute rates`);
  const show = (v: unknown, digits = 0) => (typeof v === 'number' && Number.isFinite(v) ? formatNumber(v, digits) : NOT_APPLICABLE);
  const x = (v: number | undefined, goal: string) => (v === undefined ? `${NOT_APPLICABLE}` : `×${v.toFixed(2)} (goal ${goal})`);
  process.stdout.write(
    `\nTLS listener: ${HANDSHAKE_CONCURRENCY} concurrent full handshakes; h2load 1 connection × ${H2_STREAMS} streams; ${settings.rounds} round(s), ${window.toFixed(1)} s per load per round\n\n` +
      formatTable(
        [{ header: 'certificate' }, { header: 'contender' }, { header: 'handshakes/s' }, { header: 'CPU µs/handshake' }, { header: 'h2 req/s' }, { header: 'CPU µs/h2 req' }, { header: 'CPU µs/h1 req' }, { header: 'errors' }],
        rows.map((r) => [
          String(r.certificate),
          String(r.contender),
          show(r.handshakesPerSecond),
          show(r.cpuUsPerHandshake, 1),
          show(r.h2RequestsPerSecond),
          show(r.cpuUsPerH2Request, 1),
          show(r.cpuUsPerH1Request, 1),
          formatNumber(Number(r.handshakeErrors) + Number(r.h2Failed)),
        ]),
      ) +
      '\n\n' +
      [
        `Switchboard / nginx CPU per handshake: ECDSA ${x(ratios.handshakeCpuVsNginxEcdsa, '≤ 1.5')}, RSA ${x(ratios.handshakeCpuVsNginxRsa, '≤ 1.5')}`,
        `Switchboard CPU per h2 request / its own HTTP/1.1: ${x(ratios.h2CpuVsOwnH1, '≤ 1.3')}; vs nginx h2: ${x(ratios.h2CpuVsNginx, 'reported')}`,
        ...notes,
      ].join('\n') +
      '\n',
  );
  const files = writeResults('tls', { cpus, rounds: settings.rounds, windowSeconds: window, rows, ratios, notes, byKey });
  process.stdout.write(`wrote ${files.map((f) => f.slice(repoRoot.length)).join(', ')}\n`);
}

export const tlsBenchmark = {
  summary: 'TLS listener vs nginx (same certificate): handshakes/s and CPU per handshake (ECDSA P-256, RSA 2048), h2load h2 req/s and CPU per request vs HTTP/1.1',
  budgetSeconds: (settings: BenchSettings) => 2 * (settings.warmupSeconds + settings.durationSeconds * 2) + 240,
  run: runTlsBench,
};
