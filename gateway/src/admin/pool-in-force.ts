import type { Upstream } from '../../../spec/upstream.js';
import type { UpstreamPool } from '../balancer/upstream-pool.js';
import { ProblemError } from '../errors.js';
import type { AdminDeps } from './admin-deps.js';

/**
 * 404 `not-in-force`: the configuration holds the item but this node does not run it (yet). Each
 * node compiles each revision for itself, so a per-node view can lag the collection.
 */
export function notInForce(what: string): ProblemError {
  return new ProblemError(404, 'not-in-force', `${what} is not in force on this node yet (its revision is still loading or failed to compile)`);
}

/** The upstream `ref` names (404 `not-found` otherwise) and the pool this node runs for it. */
export async function poolInForce(deps: AdminDeps, ref: string): Promise<{ upstream: Upstream; pool: UpstreamPool }> {
  const upstream = (await deps.service.get('upstreams', ref)) as unknown as Upstream;
  const pool = deps.node?.upstreams.get(upstream.name);
  if (!pool) throw notInForce(`upstream "${upstream.name}"`);
  return { upstream, pool };
}
