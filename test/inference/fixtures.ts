import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The `data:` payloads of an SSE body, in order. */
export function sseData(text: string): string[] {
  return text
    .split(/\r?\n\r?\n/)
    .map((event) => event.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n'))
    .filter((d) => d !== '');
}

/** What the simulated worker reports as usage for a chat request (openai-wire.ts: ~4 characters a token). */
export function simulatedUsage(messages: unknown[], maxTokens: number): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const prompt = Math.max(1, Math.ceil(JSON.stringify(messages).length / 4));
  return { prompt_tokens: prompt, completion_tokens: maxTokens, total_tokens: prompt + maxTokens };
}

/** The value of one series of a Prometheus text exposition, 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const inner = line.slice(name.length + 1, line.lastIndexOf('}'));
    const got = Object.fromEntries([...inner.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

export interface BadWorker {
  url: string;
  /** Request bodies received, by path. */
  bodies: Array<{ path: string; body: string }>;
  close(): Promise<void>;
}

/**
 * A worker whose answers carry broken usage: a string count, JSON that does not parse, a
 * stream whose usage chunk has a negative count, and a total that does not add up.
 */
export async function startBadWorker(): Promise<BadWorker> {
  const bodies: BadWorker['bodies'] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      bodies.push({ path: req.url ?? '', body });
      const json = (payload: string) => res.writeHead(200, { 'content-type': 'application/json' }).end(payload);
      switch (req.url) {
        case '/v1/string-count':
          return json(JSON.stringify({ id: 'x', model: 'bad-llm', choices: [], usage: { prompt_tokens: 'ten', completion_tokens: 3 } }));
        case '/v1/not-json':
          return json('{"id": "x", "usage": {"prompt_tokens": 1');
        case '/v1/bad-total':
          return json(JSON.stringify({ id: 'x', model: 'bad-llm', choices: [], usage: { prompt_tokens: 4, completion_tokens: 3, total_tokens: 99 } }));
        case '/v1/stream-negative': {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ id: 'x', model: 'bad-llm', choices: [{ index: 0, delta: { content: 'hi' } }] })}\n\n`);
          res.write(`data: ${JSON.stringify({ id: 'x', model: 'bad-llm', choices: [], usage: { prompt_tokens: -1, completion_tokens: 2 } })}\n\n`);
          return res.end('data: [DONE]\n\n');
        }
        default:
          return json(JSON.stringify({ id: 'x', model: 'bad-llm', choices: [], usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
