import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/**
 * What a contender costs, read from /proc for its whole process group: nginx's master and
 * worker, haproxy, the gateway with any helper it forks. The group is what the bench started,
 * so the figure cannot miss the process that does the work.
 */

let clockTicks: number | undefined;

/** utime and stime in /proc/PID/stat are in clock ticks (USER_HZ, nearly always 100). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface StatFields {
  pgrp: number;
  cpuTicks: number;
}

function readStat(pid: number): StatFields | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses; fields after its last ')'
  // are plain. There, index 0 is field 3 (state): pgrp is field 5, utime 14, stime 15.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { pgrp: Number(rest[2]), cpuTicks: Number(rest[11]) + Number(rest[12]) };
}

export function processGroupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    if (readStat(pid)?.pgrp === pgid) members.push(pid);
  }
  return members;
}

export interface CpuSnapshot {
  /** Per member: CPU seconds so far. Per pid, so a process that appears later counts from 0. */
  seconds: Map<number, number>;
}

export function cpuSnapshot(pgid: number): CpuSnapshot {
  const seconds = new Map<number, number>();
  const ticks = clockTicksPerSecond();
  for (const pid of processGroupMembers(pgid)) {
    const stat = readStat(pid);
    if (stat) seconds.set(pid, stat.cpuTicks / ticks);
  }
  return { seconds };
}

/** CPU seconds (user + system) the group spent between two snapshots. */
export function cpuSecondsBetween(before: CpuSnapshot, after: CpuSnapshot): number {
  let total = 0;
  for (const [pid, seconds] of after.seconds) total += seconds - (before.seconds.get(pid) ?? 0);
  return total;
}

export interface MemoryFigures {
  /** Sum of VmRSS over the group now. */
  rssBytes: number;
  /**
   * Sum of VmHWM (each process's own peak RSS, kept by the kernel) over the group. Read once at
   * the end of a run it is the peak, with no polling to miss it. Shared pages of a master and
   * its worker count twice — an upper bound, exact for single-process contenders.
   */
  peakRssBytes: number;
}

function statusKiB(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) : 0;
}

export function groupMemory(pgid: number): MemoryFigures {
  let rssKiB = 0;
  let peakKiB = 0;
  for (const pid of processGroupMembers(pgid)) {
    let status: string;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      continue;
    }
    rssKiB += statusKiB(status, 'VmRSS');
    peakKiB += statusKiB(status, 'VmHWM');
  }
  return { rssBytes: rssKiB * 1024, peakRssBytes: peakKiB * 1024 };
}

/** CPU seconds the group spends while `work` runs. */
export async function cpuSecondsDuring(pgid: number, work: () => Promise<unknown>): Promise<number> {
  const before = cpuSnapshot(pgid);
  await work();
  return cpuSecondsBetween(before, cpuSnapshot(pgid));
}

/** Below this many CPU seconds in half a second (4 % of a core) a group counts as idle. */
const IDLE_CPU_SECONDS = 0.02;

/**
 * Wait until the group is idle: a gateway that just answered keeps loading and compiling
 * (Fastify, schemas, the console's routes, lazily built code) for seconds, and WORKERS=2 has
 * twice that to do; measured meanwhile, it reads as CPU per request or per byte. Gives up
 * quietly after `limitMs`: a busy machine is no reason to abandon the run.
 */
export async function waitUntilIdle(pgid: number, limitMs = 30_000): Promise<void> {
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    if ((await cpuSecondsDuring(pgid, () => new Promise((r) => setTimeout(r, 500)))) < IDLE_CPU_SECONDS) return;
  }
}
