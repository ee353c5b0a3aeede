/** Reading bodies and writing JSON on plain node:http, shared by the worker's endpoints. */

import type { IncomingMessage, ServerResponse } from 'node:http';

/** The body was larger than the worker accepts; answered with 413. */
export class BodyTooLarge extends Error {}

// Far above any chat prompt, low enough that a runaway client cannot exhaust memory.
export const BODY_LIMIT_BYTES = 8 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limit = BODY_LIMIT_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new BodyTooLarge(`request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  // Tells nginx-style buffering proxies in front of the worker to pass events through at once.
  'x-accel-buffering': 'no',
} as const;

/** The path and query of a request URL, without trusting the Host header. */
export function splitUrl(rawUrl: string | undefined): { path: string; query: URLSearchParams } {
  const url = rawUrl ?? '/';
  const mark = url.indexOf('?');
  return mark === -1
    ? { path: url, query: new URLSearchParams() }
    : { path: url.slice(0, mark), query: new URLSearchParams(url.slice(mark + 1)) };
}
