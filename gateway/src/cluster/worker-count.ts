import { availableParallelism } from 'node:os';

/**
 * How many gateway processes serve: WORKERS, or the entry's default — `npm start` runs one
 * (the demo and a laptop need no more), `switchboard start` and the image one per CPU.
 */
export function workerCount(workers: number | 'auto' | undefined, fallback: number | 'auto' = 1): number {
  const wanted = workers ?? fallback;
  // availableParallelism() honours the CPU affinity (taskset, cgroup cpusets), not only the socket count.
  return wanted === 'auto' ? availableParallelism() : wanted;
}
