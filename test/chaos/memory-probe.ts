/**
 * Where a loaded gateway's memory goes, step by step: the chaos memory load (autocannon, 64
 * connections, one plain route) in steps, and after each the process's RSS, its anonymous and
 * brk memory (/proc/PID/smaps), V8's heap from `/metrics`, CPU and minor page faults per request.
 * Not a test: a tool for comparing allocator and V8 settings side by side, e.g.
 *
 *   node_modules/.bin/node dist/test/chaos/memory-probe.js 5 200000
 *   GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304 node_modules/.bin/node dist/test/chaos/memory-probe.js 5 200000
 *   CHAOS_GATEWAY_NODE_FLAGS=--max-semi-space-size=2 node_modules/.bin/node dist/test/chaos/memory-probe.js 2 200000
 *
 * PIN=1 pins the gateway to CPU 1 and the load to CPU 0 (taskset), which steadies CPU figures.
 * The gateway starts as the chaos suite starts it (stage.ts), so with runtime-flags.ts' settings
 * unless the environment names its own.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeBinary, repoRoot } from '../bench/paths.js';
import { cpuSecondsBetween, cpuSnapshot } from '../bench/proc-stats.js';
import { startFastUpstreams } from '../bench/upstreams.js';
import { MiB, rssBytes, sleep, startGateway, workDir } from './stage.js';

const steps = Number(process.argv[2] ?? 2);
const perStep = Number(process.argv[3] ?? 200_000);
const pin = process.env.PIN === '1';

/** minflt, field 10 of /proc/PID/stat (index 7 after the command name's closing parenthesis). */
function minorFaults(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[7]);
}

/** RSS in MiB by kind of mapping: anonymous, brk heap, and files (the node binary and libraries). */
function rssByKind(pid: number): Record<string, string> {
  const kinds: Record<string, number> = {};
  let kind = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+\s+\S+\s+\S+\s+\S+\s+\d+\s*(.*)$/.exec(line);
    if (mapping) {
      const name = mapping[1] || '[anon]';
      kind = name.includes('/') ? 'files' : name;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && (kind === 'files' || kind === '[anon]' || kind === '[heap]')) kinds[kind] = (kinds[kind] ?? 0) + Number(rss[1]);
  }
  return Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, (v / 1024).toFixed(1)]));
}

const work = workDir('memory-probe');
const upstreams = await startFastUpstreams(work.dir, 200);
const gateway = await startGateway(work.dir);
try {
  const saved = await gateway.putConfig({
    upstreams: [{ name: 'fast', algorithm: 'round-robin', targets: upstreams.targets.map((t) => ({ url: `http://${t.host}:${t.port}` })) }],
    routes: [{ name: 'fast', methods: ['GET'], paths: ['/*'], upstream: 'fast', retries: 1 }],
    consumers: [],
  });
  if (saved.status !== 200) throw new Error(`PUT /config answered ${saved.status}`);
  await sleep(1500);
  if (pin) execFileSync('taskset', ['-a', '-pc', '1', String(gateway.pid)], { stdio: 'ignore' });
  console.log(`idle: RSS ${(rssBytes(gateway.pid) / MiB).toFixed(1)} MiB ${JSON.stringify(rssByKind(gateway.pid))}`);
  const autocannon = [join(repoRoot, 'node_modules/autocannon/autocannon.js'), '-c', '64', '-a', String(perStep), '-j', `${gateway.publicUrl}/mem`];
  for (let i = 1; i <= steps; i++) {
    // The gateway is its own process group (startChild): the bench's CPU reading of it.
    const cpu0 = cpuSnapshot(gateway.pid);
    const faults0 = minorFaults(gateway.pid);
    const started = Date.now();
    if (pin) execFileSync('taskset', ['-c', '0', nodeBinary, ...autocannon], { stdio: 'ignore' });
    else execFileSync(nodeBinary, autocannon, { stdio: 'ignore' });
    const seconds = (Date.now() - started) / 1000;
    const cpuUs = (cpuSecondsBetween(cpu0, cpuSnapshot(gateway.pid)) / perStep) * 1e6;
    const faults = (minorFaults(gateway.pid) - faults0) / perStep;
    await sleep(1000);
    const metrics = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
    const gauge = (name: string) => {
      const line = metrics.split('\n').find((l) => l.startsWith(`${name} `));
      return line === undefined ? '?' : (Number(line.split(' ').pop()) / MiB).toFixed(1);
    };
    console.log(
      `step ${i}: ${i * perStep} requests, ${Math.round(perStep / seconds)} req/s, CPU ${cpuUs.toFixed(1)} µs/req, minflt ${faults.toFixed(3)}/req; ` +
        `RSS ${(rssBytes(gateway.pid) / MiB).toFixed(1)} MiB ${JSON.stringify(rssByKind(gateway.pid))}, heap ${gauge('nodejs_heap_size_used_bytes')} of ${gauge('nodejs_heap_size_total_bytes')} MiB`,
    );
  }
} finally {
  await gateway.stop();
  await upstreams.stop();
  work.remove();
}
