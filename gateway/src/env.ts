import { cidrError } from '../../spec/cidr.js';
import { DEFAULT_STORE_URL } from './store/open-store.js';

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

export function readEnv(env: NodeJS.ProcessEnv = process.env): GatewayEnv {
  const demo = env.DEMO;
  return {
    port: port('PORT', 8080, env),
    host: env.HOST || '0.0.0.0',
    adminPort: port('ADMIN_PORT', 9080, env),
    adminHost: env.ADMIN_HOST || '127.0.0.1',
    storeUrl: env.STORE_URL || DEFAULT_STORE_URL,
    redisUrl: env.REDIS_URL || undefined,
    adminEmail: env.ADMIN_EMAIL || undefined,
    adminPassword: env.ADMIN_PASSWORD || undefined,
    demo: demo === undefined || demo === '' ? undefined : !['0', 'false', 'no', 'off'].includes(demo.toLowerCase()),
    logLevel: env.LOG_LEVEL || 'info',
    accessLog: ['1', 'true', 'yes', 'on'].includes((env.ACCESS_LOG ?? '').toLowerCase()),
    trustedProxies: trustedProxies(env.TRUSTED_PROXIES),
  };
}
