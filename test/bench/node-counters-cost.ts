/**
 * What a node-wide count costs with WORKERS > 1 and no Redis: the product's own ClusterPrimary
 * forks one worker, whose WorkerLink counts in the primary over node:cluster IPC — one count at
 * a time (an idle node: the round trip a rate-limited request waits) and 64 in flight (a busy
 * one: CPU per count, worker and primary).
 *
 *   node_modules/.bin/node dist/test/bench/node-counters-cost.js
 */
import cluster from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { ClusterPrimary } from '../../gateway/src/cluster/primary.js';
import { WorkerLink } from '../../gateway/src/cluster/worker-link.js';
import { createLogger } from '../../gateway/src/logger.js';

const COUNTS = 20_000;
const WARM_UP = 2_000;
const IN_FLIGHT = 64;

const cpuUs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};

if (cluster.isPrimary) {
  const primary = new ClusterPrimary({ exec: fileURLToPath(import.meta.url), count: 1, logger: createLogger('warn'), shutdownTimeoutMs: 5_000 });
  let cpu = process.cpuUsage();
  cluster.on('message', (_worker, m: { phase?: string }) => {
    if (m.phase === 'one at a time' || m.phase === 'in flight') cpu = process.cpuUsage();
    if (m.phase === 'one at a time done' || m.phase === 'in flight done') console.log(`  primary: ${(cpuUs(cpu) / COUNTS).toFixed(1)} µs CPU per count ${m.phase.replace(' done', '')}`);
    if (m.phase === 'in flight done') void primary.stop('SIGTERM');
  });
  await primary.start();
} else {
  const link = new WorkerLink();
  link.ready({ slot: link.slot, pid: process.pid, port: 0, revision: 0 });
  const key = 'rl:c:acme-partner-consumer-id';
  for (let i = 0; i < WARM_UP; i++) await link.window(key, 60_000);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
  process.send!({ phase: 'one at a time' });
  await settle();
  let cpu = process.cpuUsage();
  let started = performance.now();
  for (let i = 0; i < COUNTS; i++) await link.window(key, 60_000);
  console.log(`one at a time: ${(((performance.now() - started) / COUNTS) * 1000).toFixed(1)} µs round trip, worker ${(cpuUs(cpu) / COUNTS).toFixed(1)} µs CPU per count`);
  process.send!({ phase: 'one at a time done' });
  await settle();
  process.send!({ phase: 'in flight' });
  await settle();
  cpu = process.cpuUsage();
  started = performance.now();
  for (let b = 0; b < COUNTS / IN_FLIGHT; b++) await Promise.all(Array.from({ length: IN_FLIGHT }, () => link.window(key, 60_000)));
  console.log(`${IN_FLIGHT} in flight: ${(((performance.now() - started) / COUNTS) * 1000).toFixed(1)} µs per count, worker ${(cpuUs(cpu) / COUNTS).toFixed(1)} µs CPU per count`);
  process.send!({ phase: 'in flight done' });
  process.on('SIGTERM', () => process.exit(0));
}
