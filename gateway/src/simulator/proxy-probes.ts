/**
 * Endpoints that exist for the gateway's proxy tests, not for inference: they answer without
 * taking a GPU slot, so a test of header forwarding or SSE pass-through is never slowed or
 * reordered by the queue model.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';

import { readBody, sendJson, SSE_HEADERS } from './http-io.js';

/**
 * `ANY /echo[/*]`: reflects what arrived, so a test can assert what the gateway forwarded.
 * Optional query `status` answers with that status; `delayMs` waits first (upstream timeouts).
 */
export async function answerEcho(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, worker: string): Promise<void> {
  const body = await readBody(req);
  const status = boundedInteger(query.get('status'), 200, 200, 599);
  const delayMs = boundedInteger(query.get('delayMs'), 0, 0, 600_000);
  const reply = (): void =>
    sendJson(res, status, { method: req.method, url: req.url, headers: req.headers, body: body.toString('utf8'), worker });
  if (delayMs === 0) {
    reply();
    return;
  }
  const timer = setTimeout(reply, delayMs);
  res.once('close', () => clearTimeout(timer));
}

/** `GET /sse?events=N&intervalMs=M`: N events `data: i`, the first at once, then every M ms. */
export function answerSse(res: ServerResponse, query: URLSearchParams): void {
  const events = boundedInteger(query.get('events'), 3, 0, 100_000);
  const intervalMs = boundedInteger(query.get('intervalMs'), 100, 0, 60_000);
  res.writeHead(200, SSE_HEADERS);
  res.flushHeaders();
  const startedAt = performance.now();
  let sent = 0;
  let timer: NodeJS.Timeout | undefined;
  const emit = (): void => {
    if (sent >= events) {
      res.end();
      return;
    }
    res.write(`data: ${sent}\n\n`);
    sent += 1;
    // Scheduled against the start, not the previous event, so timer lateness does not add up.
    timer = setTimeout(emit, Math.max(0, startedAt + sent * intervalMs - performance.now()));
  };
  res.once('close', () => clearTimeout(timer));
  emit();
}

function boundedInteger(raw: string | null, fallback: number, min: number, max: number): number {
  if (raw === null || raw === '') return fallback;
  const value = Number(raw);
  return Number.isInteger(value) ? Math.min(max, Math.max(min, value)) : fallback;
}
