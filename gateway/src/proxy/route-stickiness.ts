import { createHmac } from 'node:crypto';
import { readCookie } from '../balancer/hash-key.js';
import type { PoolMember } from '../balancer/picker.js';
import { findStickyMember, setStickySecret, stickySetCookie } from '../balancer/sticky.js';
import type { UpstreamPool } from '../balancer/upstream-pool.js';

let stickySecretSource = '';
/**
 * Every node derives the sticky-cookie key from the store's secrets, so a client bouncing
 * between nodes behind an L4 balancer keeps its worker. Without secrets yet, the key stays
 * random per process (stickiness then holds per node only).
 */
export function shareStickySecret(secrets: Record<string, string>): void {
  const names = Object.keys(secrets).sort();
  if (names.length === 0) return;
  const source = names.map((n) => `${n}=${secrets[n]}`).join('\n');
  if (source === stickySecretSource) return;
  stickySecretSource = source;
  setStickySecret(createHmac('sha256', source).update('switchboard sticky cookie').digest());
}

/**
 * Cookie stickiness for a pool with `sticky`: the first response sets a signed cookie naming the
 * worker; later requests go back to it while it is eligible and under its connection limit.
 */
export function stickiness(pool: UpstreamPool) {
  const config = pool.spec.sticky;
  if (!config) return undefined;
  const name = config.cookie ?? 'sb_sticky';
  const ttlMs = config.ttlMs ?? 3_600_000;
  return {
    find(cookieHeader: string | undefined): PoolMember | undefined {
      if (!cookieHeader) return undefined;
      const member = findStickyMember(readCookie(cookieHeader, name), pool.eligibleMembers());
      return member && member.target.inFlight < member.maxConnections ? member : undefined;
    },
    cookieFor(member: PoolMember): Record<string, string> {
      return { 'set-cookie': stickySetCookie(name, member, ttlMs) };
    },
  };
}

