/**
 * A minimal node:http upstream, run as its own process by the bench: one process listening on
 * several ports, answering every request with the same fixed body, optionally after a delay.
 * It is the slow upstream of the latency run (nginx cannot wait cheaply) and the fallback for
 * the throughput run when nginx is not installed.
 *
 * argv: JSON `{ "ports": [p1, p2, p3], "delayMs": 20, "bodyBytes": 200 }`
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { fixedBody } from './fixed-body.js';

interface UpstreamOptions {
  ports: number[];
  delayMs: number;
  bodyBytes: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as UpstreamOptions;
const body = Buffer.from(fixedBody(options.bodyBytes));

function answer(response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  response.end(body);
}

function handle(request: IncomingMessage, response: ServerResponse): void {
  request.resume();
  if (options.delayMs > 0) setTimeout(answer, options.delayMs, response);
  else answer(response);
}

for (const port of options.ports) {
  const server = createServer(handle);
  // Proxies keep idle pooled connections for a long time; closing them first (node's default is
  // 5 s) races with a reused connection and shows up as spurious 502s.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  server.listen(port, '127.0.0.1');
}

process.on('SIGTERM', () => process.exit(0));
