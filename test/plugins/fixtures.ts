import assert from 'node:assert/strict';
import type { TestGateway } from '../helpers/gateway.js';
import { waitFor } from '../helpers/gateway.js';

/** Wait until a node serves the store's current revision (after a direct store change). */
export async function caughtUp(gw: TestGateway, timeoutMs = 5000): Promise<void> {
  const revision = await gw.store.revision();
  await waitFor(() => gw.node.revision >= revision, timeoutMs, `revision ${revision} in force`);
}

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** A problem document without its per-request `instance`, for comparing two refusals. */
export function sansInstance(body: Record<string, unknown>): Record<string, unknown> {
  const { instance: _i, ...rest } = body;
  return rest;
}

/**
 * `max` requests to `path`, alternating between two nodes, draw one counter down (remaining
 * max-1 … 0 whichever node answers), then each node refuses with 429: the count is shared, not
 * kept per node. Answers the two refusals, for their headers.
 */
export async function assertOneSharedCount(nodes: [TestGateway, TestGateway], path: string, max: number): Promise<Answer[]> {
  const seen: string[] = [];
  for (let i = 0; i < max; i++) {
    const a = await call(`${nodes[i % 2]!.url}${path}`);
    assert.equal(a.status, 200, `request ${i + 1} to ${path}`);
    seen.push(a.headers.get('ratelimit-remaining')!);
  }
  assert.deepEqual(seen, Array.from({ length: max }, (_, i) => String(max - 1 - i)), 'one counter, whichever node answers');
  const refusals: Answer[] = [];
  for (const gw of nodes) {
    const refused = await call(`${gw.url}${path}`);
    assert.equal(refused.status, 429, `${gw.url}${path} after ${max} requests`);
    refusals.push(refused);
  }
  return refusals;
}
