import { createRequire } from 'node:module';
import type { Cluster, ClusterNode, Redis, RedisOptions } from 'ioredis';

/**
 * ioredis is loaded when a node first connects, not when this file is: most nodes run without
 * REDIS_URL, and the library held ≈ 1.1 MB of heap and ≈ 2 MiB of RSS in such a node for nothing.
 * It is CommonJS, so a synchronous require keeps connectRedis (and the counter store built on
 * it) synchronous.
 */
const ioredis = (): typeof import('ioredis') => createRequire(import.meta.url)('ioredis') as typeof import('ioredis');

/**
 * Where the shared counters live, read from REDIS_URL (and REDIS_CLUSTER):
 *
 * - `redis://[user:pass@]host:port[/db]` (`rediss://` for TLS): one server.
 * - `redis-cluster://[user:pass@]host:port,host:port` (`rediss-cluster://` for TLS), or a
 *   `redis://` URL with REDIS_CLUSTER=1: a Redis Cluster, found from these seed nodes.
 * - `redis-sentinel://[user:pass@]host:port,host:port/mastername` (`rediss-sentinel://` for
 *   TLS to the master): the master Sentinel names, followed through failovers. The password is
 *   the master's; `?sentinelPassword=` authenticates to the Sentinels themselves.
 *
 * ioredis speaks all three (Redis.Cluster, the `sentinels` option); this file only reads the URL
 * strictly, so a typo stops the start with a message instead of counting against the wrong place.
 */
export type RedisTopology =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; nodes: ClusterNode[]; username?: string; password?: string; tls: boolean }
  | { kind: 'sentinel'; sentinels: Array<{ host: string; port: number }>; name: string; username?: string; password?: string; sentinelPassword?: string; tls: boolean };

const SCHEMES = ['redis:', 'rediss:', 'redis-cluster:', 'rediss-cluster:', 'redis-sentinel:', 'rediss-sentinel:'];

/** `host:port,host:port`, each port given or 6379 (26379 for Sentinels). */
function hostList(text: string, defaultPort: number, what: string): Array<{ host: string; port: number }> {
  if (text === '') throw new Error(`REDIS_URL names no ${what} host`);
  return text.split(',').map((entry) => {
    const m = /^(\[[0-9a-f:.]+\]|[^:\[\]]+)(?::(\d+))?$/i.exec(entry.trim());
    const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
    if (!m || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`REDIS_URL ${what} "${entry}" must be host or host:port`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
}

export function parseRedisUrl(url: string, clusterFlag = false): RedisTopology {
  const scheme = /^([a-z][a-z0-9+.-]*:)\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined || !SCHEMES.includes(scheme))
    throw new Error(`REDIS_URL must start with redis://, rediss://, redis-cluster:// or redis-sentinel://, got "${scheme ?? url.split('/')[0]}"`);
  if (scheme.startsWith('redis:') || scheme.startsWith('rediss:')) {
    if (!clusterFlag) return { kind: 'single', url };
  }
  // Several hosts are not a WHATWG URL authority: split the authority off by hand.
  const rest = url.slice(scheme.length + 2);
  const cut = rest.search(/[/?#]/);
  const authority = cut === -1 ? rest : rest.slice(0, cut);
  const tail = cut === -1 ? '' : rest.slice(cut);
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? '' : authority.slice(0, at);
  const hosts = at === -1 ? authority : authority.slice(at + 1);
  const colon = userinfo.indexOf(':');
  const username = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon)) || undefined;
  const password = colon === -1 ? undefined : decodeURIComponent(userinfo.slice(colon + 1)) || undefined;
  const tls = scheme.startsWith('rediss');
  const query = new URLSearchParams(tail.includes('?') ? tail.slice(tail.indexOf('?') + 1) : '');
  const path = tail.split('?')[0]!.replace(/^\/+|\/+$/g, '');
  if (scheme.includes('sentinel')) {
    if (path === '' || path.includes('/')) throw new Error('REDIS_URL redis-sentinel:// must name the master: redis-sentinel://host:port[,host:port]/mastername');
    const sentinelPassword = query.get('sentinelPassword') ?? undefined;
    return { kind: 'sentinel', sentinels: hostList(hosts, 26379, 'Sentinel'), name: decodeURIComponent(path), username, password, sentinelPassword, tls };
  }
  // A cluster has one keyspace: /0 is the only database it has, anything else is a mistake.
  if (path !== '' && path !== '0') throw new Error(`REDIS_URL: a Redis Cluster has only database 0, got "/${path}"`);
  return { kind: 'cluster', nodes: hostList(hosts, 6379, 'cluster seed'), username, password, tls };
}

/** REDIS_CLUSTER: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`/empty. */
export function clusterFlag(raw: string | undefined): boolean {
  const value = (raw ?? '').trim().toLowerCase();
  if (['', '0', 'false', 'no', 'off'].includes(value)) return false;
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  throw new Error(`REDIS_CLUSTER must be 1 or 0, got "${raw}"`);
}

/** What every topology's connections share (the counter store's breaker settings). */
export type ConnectionOptions = Pick<RedisOptions, 'enableOfflineQueue' | 'maxRetriesPerRequest' | 'commandTimeout' | 'connectTimeout' | 'retryStrategy' | 'lazyConnect'>;

/** One client for the topology: a Redis (single or through Sentinel) or a Redis.Cluster. */
export function connectRedis(topology: RedisTopology, options: ConnectionOptions): Redis | Cluster {
  const { Redis, Cluster } = ioredis();
  if (topology.kind === 'single') return new Redis(topology.url, options);
  const auth = { username: topology.username, password: topology.password };
  if (topology.kind === 'sentinel')
    return new Redis({
      ...options,
      ...auth,
      sentinels: topology.sentinels,
      name: topology.name,
      sentinelPassword: topology.sentinelPassword,
      ...(topology.tls ? { tls: {} } : {}),
    });
  const { enableOfflineQueue, retryStrategy, lazyConnect, ...perNode } = options;
  return new Cluster(topology.nodes, {
    enableOfflineQueue,
    lazyConnect,
    clusterRetryStrategy: retryStrategy ? (attempt) => retryStrategy(attempt) : undefined,
    // Slots move in a resharding or failover: follow MOVED/ASK a few times, then count locally.
    maxRedirections: 4,
    redisOptions: { ...perNode, ...auth, ...(topology.tls ? { tls: {} } : {}) },
  });
}

/**
 * REDIS_URL as the node passes it on: checked at start (a bad URL stops the process with a
 * message naming it), and with REDIS_CLUSTER=1 a redis:// URL becomes the redis-cluster:// one.
 */
export function redisUrlFromEnv(url: string | undefined, clusterRaw: string | undefined): string | undefined {
  const cluster = clusterFlag(clusterRaw);
  if (!url) {
    if (cluster) throw new Error('REDIS_CLUSTER=1 needs REDIS_URL naming at least one cluster node');
    return undefined;
  }
  parseRedisUrl(url, cluster);
  return cluster ? url.replace(/^(rediss?):/i, '$1-cluster:') : url;
}
