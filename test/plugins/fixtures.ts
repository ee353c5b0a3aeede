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
