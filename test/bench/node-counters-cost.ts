/**
 * What a node-wide count costs with WORKERS > 1 and no Redis: one worker asks the cluster
 * primary to count in its FixedWindows over node:cluster IPC (the messages WorkerLink and
 * ClusterPrimary exchange), one at a time (an idle node: the round trip a rate-limited request
 * waits) and 64 in flight (a busy one: CPU per count, both sides).
 *
 *   node_modules/.bin/node dist/test/bench/node-counters-cost.js
 */
import cluster from 'node:cluster';
import { FixedWindows } from '../../plugins/rate-limit/fixed-windows.js';

const COUNTS = 20_000;
const WARM_UP = 2_000;
const IN_FLIGHT = 64;

interface Count {
  sb: 'count-window';
  id: number;
  key: string;
  windowMs: number;
}

const cpuUs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};

if (cluster.isPrimary) {
  const windows = new FixedWindows();
  const worker = cluster.fork();
  let cpu = process.cpuUsage();
  worker.on('message', (m: Count | { phase: 'start' | 'end' }) => {
    if ('sb' in m) {
      const { current, ttl } = windows.hit(m.key, m.windowMs);
      worker.send({ sb: 'counted', id: m.id, current, ttl });
    } else if (m.phase === 'start') cpu = process.cpuUsage();
    else {
      console.log(`primary: ${(cpuUs(cpu) / (2 * COUNTS)).toFixed(1)} µs CPU per count (both phases)`);
      worker.kill();
      windows.close();
    }
  });
} else {
  const pending = new Map<number, () => void>();
  let id = 0;
  process.on('message', (m: { id: number }) => {
    pending.get(m.id)?.();
    pending.delete(m.id);
  });
  const ask = () =>
    new Promise<void>((resolve) => {
      const n = ++id;
      pending.set(n, resolve);
      process.send!({ sb: 'count-window', id: n, key: 'rl:c:acme-partner-consumer-id', windowMs: 60_000 } satisfies Count);
    });
  for (let i = 0; i < WARM_UP; i++) await ask();
  process.send!({ phase: 'start' });
  let cpu = process.cpuUsage();
  let started = performance.now();
  for (let i = 0; i < COUNTS; i++) await ask();
  console.log(`one at a time: ${(((performance.now() - started) / COUNTS) * 1000).toFixed(1)} µs round trip, worker ${(cpuUs(cpu) / COUNTS).toFixed(1)} µs CPU per count`);
  cpu = process.cpuUsage();
  started = performance.now();
  for (let b = 0; b < COUNTS / IN_FLIGHT; b++) await Promise.all(Array.from({ length: IN_FLIGHT }, ask));
  console.log(`${IN_FLIGHT} in flight: ${(((performance.now() - started) / COUNTS) * 1000).toFixed(1)} µs per count, worker ${(cpuUs(cpu) / COUNTS).toFixed(1)} µs CPU per count`);
  process.send!({ phase: 'end' });
}
