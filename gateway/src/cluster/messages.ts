import type { UsageQuery, UsageRecord } from '../contracts/node-counters.js';
import type { EjectionNotice } from '../health/shared-ejections.js';
import type { HealthVerdict } from '../health/shared-verdicts.js';

/** What a worker tells the primary once it serves (worker 1 also holds the admin listener). */
export interface ReadyInfo {
  slot: number;
  pid: number;
  port: number;
  /** The TLS listener's port, when TLS_PORT is set. */
  tlsPort?: number;
  revision: number;
  admin?: { url: string; initialEmail: string | undefined; initialPassword: string | undefined };
}

/**
 * One count a worker asks the primary for (NodeCounters). A loop turn's counts travel in one
 * `counts` message and come back in one `counted`: one IPC message per turn, not per request.
 */
export type CountItem =
  | { op: 'window'; id: number; key: string; windowMs: number }
  | { op: 'quota'; id: number; key: string; resetAtMs: number }
  | { op: 'add'; id: number; counters: Array<{ key: string; resetAtMs: number }>; amount: number }
  /** Fire and forget: no answer. */
  | { op: 'usage'; record: UsageRecord };

export type CountAnswer = { id: number; current: number; ttl: number } | { id: number; counts: number[] };

/** The IPC between the primary and its workers; `sb` keeps them apart from anyone else's messages. */
export type WorkerMessage =
  | { sb: 'hello' }
  | { sb: 'ready'; info: ReadyInfo }
  | { sb: 'verdict'; verdict: HealthVerdict }
  | { sb: 'ejection'; notice: EjectionNotice }
  | { sb: 'scrape'; id: number }
  | { sb: 'scrape-reply'; id: number; text: string }
  | { sb: 'counts'; items: CountItem[] }
  | { sb: 'usage-query'; id: number; query: UsageQuery };

export type PrimaryMessage =
  | { sb: 'verdict'; verdict: HealthVerdict }
  | { sb: 'ejection'; notice: EjectionNotice }
  | { sb: 'counted'; answers: CountAnswer[] }
  | { sb: 'usage'; id: number; series: unknown }
  | { sb: 'scrape-request'; id: number }
  | { sb: 'scrape-result'; id: number; text: string };

export function isSwitchboardMessage(message: unknown): message is { sb: string } {
  return typeof message === 'object' && message !== null && typeof (message as { sb?: unknown }).sb === 'string';
}

/** Environment the primary hands each worker: which slot it fills, of how many. */
export const SLOT_ENV = 'SWITCHBOARD_WORKER_SLOT';
export const COUNT_ENV = 'SWITCHBOARD_WORKER_COUNT';
