import { cidrError } from '../../spec/cidr.js';
import { DEFAULT_STORE_URL } from './store/open-store.js';
import { readEdgeSettings, type EdgeSettings } from './node/edge-settings.js';
import { redisUrlFromEnv } from '../../plugins/rate-limit/redis-connection.js';

/** The environment of the contract, read once, with defaults. */
export interface GatewayEnv {
  port: number;
  host: string;
  adminPort: number;
  adminHost: string;
  storeUrl: string;
  redisUrl: string | undefined;
  adminEmail: string | undefined;
  adminPassword: string | undefined;
  /** undefined = the default: seed the demo on an empty embedded store, never on MongoDB (see demoPlan). */
  demo: boolean | undefined;
  logLevel: string;
  /** ACCESS_LOG=1: one JSON log line per answered request. */
  accessLog: boolean;
  /** CIDRs of proxies in front of the gateway (TRUSTED_PROXIES, comma-separated). */
  trustedProxies: string[];
  /** TLS_PORT, TLS_HOST, TLS_CERT_FILE, TLS_KEY_FILE, H2C, PROXY_PROTOCOL (node/edge-settings.ts). */
  edge: EdgeSettings;
  /** WORKERS: gateway processes on one port (node:cluster); 'auto' = one per CPU; undefined = the entry's default. */
  workers: number | 'auto' | undefined;
  /** DRAIN_DELAY_MS: after SIGTERM, how long /readyz says 503 while the listener still accepts. */
  drainDelayMs: number;
  /** SHUTDOWN_TIMEOUT_MS: from SIGTERM, how long in-flight requests (streams too) may take to finish. */
  shutdownTimeoutMs: number;
}

function port(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name} must be a port number (0-65535), got "${raw}"`);
  return value;
}

/**
 * Comma-separated CIDRs, spaces around commas allowed. Every entry must parse (spec/cidr.ts):
 * the process refuses to start rather than trust a list it read differently than meant
 * (`10.0.0.0/` once meant /0, everyone).
 */
function trustedProxies(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  return raw.split(',').map((entry, i) => {
    const text = entry.trim();
    const why = cidrError(text);
    if (why) throw new Error(`TRUSTED_PROXIES entry ${i + 1} ${why}`);
    return text;
  });
}

function milliseconds(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  // 2^31-1: the largest delay a Node timer keeps (a larger one fires at once).
  if (!/^\d+$/.test(raw.trim()) || value > 2_147_483_647) throw new Error(`${name} must be a whole number of milliseconds (0-2147483647), got "${raw}"`);
  return value;
}

/** A positive count of processes, or 'auto' (one per CPU); more than 256 is a typo, not a plan. */
function workers(raw: string | undefined): number | 'auto' | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const text = raw.trim().toLowerCase();
  if (text === 'auto') return 'auto';
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > 256) throw new Error(`WORKERS must be a number of processes (1-256) or "auto", got "${raw}"`);
  return value;
}

export function readEnv(env: NodeJS.ProcessEnv = process.env): GatewayEnv {
  const demo = env.DEMO;
  return {
    port: port('PORT', 8080, env),
    host: env.HOST || '0.0.0.0',
    adminPort: port('ADMIN_PORT', 9080, env),
    adminHost: env.ADMIN_HOST || '127.0.0.1',
    storeUrl: env.STORE_URL || DEFAULT_STORE_URL,
    redisUrl: redisUrlFromEnv(env.REDIS_URL, env.REDIS_CLUSTER),
    adminEmail: env.ADMIN_EMAIL || undefined,
    adminPassword: env.ADMIN_PASSWORD || undefined,
    demo: demo === undefined || demo === '' ? undefined : !['0', 'false', 'no', 'off'].includes(demo.toLowerCase()),
    logLevel: env.LOG_LEVEL || 'info',
    accessLog: ['1', 'true', 'yes', 'on'].includes((env.ACCESS_LOG ?? '').toLowerCase()),
    trustedProxies: trustedProxies(env.TRUSTED_PROXIES),
    edge: readEdgeSettings(env),
    workers: workers(env.WORKERS),
    drainDelayMs: milliseconds('DRAIN_DELAY_MS', 5_000, env),
    shutdownTimeoutMs: milliseconds('SHUTDOWN_TIMEOUT_MS', 600_000, env),
  };
}
