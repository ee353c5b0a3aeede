/**
 * The proxy bench's Node floor (`node-bare`): what a competent engineer writes in an hour with
 * node:http and undici and nothing else — one undici Pool per target, round robin, the request
 * body and the answer streamed through, hop-by-hop headers dropped (RFC 9110 §7.6.1),
 * x-forwarded-for appended, upstream failures as 502. No routing, stages, metrics or logging:
 * every µs the gateway spends above this is the gateway's own.
 *
 * undici's low-level `dispatch` (the API the gateway's proxy uses too) rather than
 * `pool.request`: no Readable and no promise per answer, backpressure through the controller,
 * so the floor is as low as Node goes and the comparison is not flattered.
 *
 * argv: JSON `{ "port", "host", "targets": [{ "host", "port" }] }`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';

interface BareProxyOptions {
  port: number;
  host: string;
  targets: Array<{ host: string; port: number }>;
}

/**
 * Cap per target, as nginx's `keepalive 256` (nginx-config.ts): above the benches' peak
 * concurrency on purpose, so no request waits for a connection and none is re-opened.
 */
const CONNECTIONS_PER_TARGET = 256;

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1; undici refuses to send most of them anyway), and `host`,
 * which undici sets to the target's as nginx's default `proxy_set_header Host $proxy_host` does.
 */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

const options = JSON.parse(process.argv[2] ?? '{}') as BareProxyOptions;
const pools = options.targets.map((target) => new Pool(`http://${target.host}:${target.port}`, {
  connections: CONNECTIONS_PER_TARGET,
  pipelining: 1,
  keepAliveTimeout: 120_000,
  keepAliveMaxTimeout: 120_000,
}));
let next = 0;

/** Headers to pass on, without hop-by-hop ones and those the Connection header names. */
function endToEnd(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const named = typeof headers.connection === 'string' ? headers.connection.toLowerCase().split(',').map((name) => name.trim()) : [];
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || NOT_FORWARDED.has(name) || (named.length > 0 && named.includes(name))) continue;
    out[name] = value;
  }
  return out;
}

function badGateway(res: ServerResponse): void {
  if (res.headersSent) res.destroy();
  else res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway\n');
}

function proxy(req: IncomingMessage, res: ServerResponse): void {
  const pool = pools[next]!;
  next = (next + 1) % pools.length;
  const headers = endToEnd(req.headers);
  const client = req.socket.remoteAddress ?? '';
  const forwarded = req.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = forwarded === undefined ? client : `${forwarded}, ${client}`;
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  let controller: Dispatcher.DispatchController | undefined;
  res.once('close', () => {
    if (!res.writableFinished) controller?.abort(new Error('client went away'));
  });
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(c) {
      controller = c;
    },
    onResponseStart(_c, statusCode, upstreamHeaders) {
      if (statusCode >= 200) res.writeHead(statusCode, endToEnd(upstreamHeaders));
    },
    onResponseData(c, chunk) {
      if (!res.write(chunk)) {
        c.pause();
        res.once('drain', () => c.resume());
      }
    },
    onResponseEnd() {
      res.end();
    },
    onResponseError(_c, _error) {
      badGateway(res);
    },
  };
  pool.dispatch({
    path: req.url ?? '/',
    method: req.method as Dispatcher.HttpMethod,
    headers,
    body: hasBody ? req : null,
  }, handler);
}

const server = createServer({ keepAliveTimeout: 120_000 }, proxy);
server.listen(options.port, options.host, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
