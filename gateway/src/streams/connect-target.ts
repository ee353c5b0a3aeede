import { connect, type Socket } from 'node:net';
import type { PickContext } from '../balancer/picker.js';
import type { Member, UpstreamPool } from '../balancer/upstream-pool.js';
import { hostPort } from '../health/probe.js';

/** A target socket that completed its handshake, and the member it belongs to. */
export interface Joined {
  socket: Socket;
  member: Member;
  /** Handshake time in ms (what latency-aware pickers learn from at L4). */
  connectMs: number;
}

/** Why no target could be joined. */
export type JoinFailure = 'no-healthy-target' | 'all-saturated' | 'connect-failed' | 'client-gone';

export interface JoinOptions {
  connectTimeoutMs: number;
  /** Told of each refused or timed-out connect (metrics, log). */
  onConnectFailure?: (member: Member, err: Error) => void;
  /** True once the client went away: stop trying. */
  clientGone: () => boolean;
  /** Read the target's bytes into caller-owned memory (net's `onread`) instead of a buffer per read. */
  onread?: { buffer: () => Buffer; callback: (bytes: number, buffer: Buffer) => boolean } | undefined;
}

/**
 * Pick a target and open a TCP connection to it; a refused or timed-out connect is reported to
 * the pool as a connect failure (passive health ejects on it) and the next eligible target is
 * tried, each at most once (the pool's `tried` set, as the HTTP proxy's retries use). The member
 * stays counted in flight (`pool.begin`) from the pick: least-connections sees connections
 * being opened as well as open ones. The caller reports the joined connection's outcome with `pool.end`.
 */
export async function joinTarget(pool: UpstreamPool, ctx: PickContext, options: JoinOptions): Promise<Joined | JoinFailure> {
  const tried: Member[] = [];
  for (;;) {
    const picked = pool.pick(ctx, tried);
    if (typeof picked === 'string') return tried.length > 0 ? 'connect-failed' : picked;
    // Every eligible member failed once already: the pool hands a tried one back.
    if (tried.includes(picked)) return 'connect-failed';
    tried.push(picked);
    pool.begin(picked);
    const started = performance.now();
    try {
      const socket = await open(picked.target.url, options.connectTimeoutMs, options.onread);
      const connectMs = performance.now() - started;
      if (options.clientGone()) {
        socket.destroy();
        pool.end(picked, { latencyMs: connectMs, status: undefined });
        return 'client-gone';
      }
      return { socket, member: picked, connectMs };
    } catch (err) {
      const latencyMs = performance.now() - started;
      const timedOut = (err as { code?: string }).code === 'ETIMEDOUT';
      pool.end(picked, { latencyMs, status: undefined, error: timedOut ? 'timeout' : 'connect' });
      options.onConnectFailure?.(picked, err as Error);
      if (options.clientGone()) return 'client-gone';
    }
  }
}

/** Host and port per target origin: parsed once, not a URL per connection. */
const addresses = new Map<string, { host: string; port: number }>();

function open(origin: string, timeoutMs: number, onread: JoinOptions['onread']): Promise<Socket> {
  let address = addresses.get(origin);
  if (address === undefined) {
    if (addresses.size > 10_000) addresses.clear();
    addresses.set(origin, (address = hostPort(origin)));
  }
  const { host, port } = address;
  return new Promise((resolve, reject) => {
    // allowHalfOpen: a client that shuts its sending side down (FIN) may still read the reply.
    const socket = connect({ host, port, allowHalfOpen: true, noDelay: true, ...(onread ? { onread } : {}) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    });
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once('error', fail);
  });
}
