import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EchoedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface EchoUpstream {
  url: string;
  port: number;
  name: string;
  /** Every request received, in order. */
  received: EchoedRequest[];
  /** Replace the default echo behaviour (return true when handled). */
  handler: ((req: IncomingMessage, res: ServerResponse, body: Buffer) => boolean | void) | undefined;
  close(): Promise<void>;
}

/**
 * A real HTTP upstream for tests: answers 200 with JSON describing the request it got
 * (method, url, headers, body) and `x-upstream: <name>`.
 */
export async function startEchoUpstream(name = 'echo', port = 0): Promise<EchoUpstream> {
  const upstream: EchoUpstream = {
    url: '',
    port: 0,
    name,
    received: [],
    handler: undefined,
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const record = { method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, body: body.toString('utf8') };
      upstream.received.push(record);
      if (upstream.handler?.(req, res, body)) return;
      const out = JSON.stringify({ ...record, upstream: name });
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name, 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  upstream.port = (server.address() as AddressInfo).port;
  upstream.url = `http://127.0.0.1:${upstream.port}`;
  upstream.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return upstream;
}

/** A port nothing listens on (bound, then released). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
