import { createServer, type Server, type Socket } from 'node:net';
import { HOST } from './stage.js';

/**
 * Upstreams that misbehave on purpose, written on raw sockets because node:http would refuse
 * to produce these bytes, and a recording upstream that keeps exactly what arrives, so a case
 * can tell what the gateway forwarded without any HTTP parser's goodwill in between.
 */

export interface RawUpstream {
  url: string;
  server: Server;
  close(): Promise<void>;
}

async function listen(onSocket: (socket: Socket) => void): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `http://${HOST}:${address.port}`,
    server,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Calls `onRequest` once per request head that arrives (bodies are ignored: the loop sends GETs). */
function perRequestHead(socket: Socket, onRequest: (head: string) => void): void {
  let buffered = '';
  socket.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('latin1');
    for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
      const head = buffered.slice(0, end);
      buffered = buffered.slice(end + 4);
      onRequest(head);
    }
  });
}

/** Answers every request with a status line no HTTP parser accepts. */
export function malformedStatusUpstream(): Promise<RawUpstream> {
  return listen((socket) => perRequestHead(socket, () => socket.write('HTTP/1.1 2x0 NOT-A-STATUS\r\ncontent-length: 2\r\n\r\nok')));
}

/** Promises 1 000 bytes, sends 100 and closes the connection. */
export function midBodyCloseUpstream(): Promise<RawUpstream> {
  return listen((socket) =>
    perRequestHead(socket, () => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1000\r\nx-worker: cutter\r\n\r\n' + 'x'.repeat(100));
      setTimeout(() => socket.destroy(), 20);
    }));
}

export const GiB = 1024 * 1024 * 1024;

/**
 * Announces a 1 GiB body and drips it in 1 MiB chunks every `everyMs`, waiting for the socket
 * to drain before the next one, so how fast it flows is up to the gateway's backpressure.
 */
export function drippingUpstream(everyMs: number): Promise<RawUpstream> {
  const chunk = Buffer.alloc(1024 * 1024, 0x61);
  return listen((socket) =>
    perRequestHead(socket, () => {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${GiB}\r\n\r\n`);
      let sent = 0;
      const next = (): void => {
        if (socket.destroyed) return;
        if (sent >= GiB) return;
        sent += chunk.length;
        const flushed = socket.write(chunk);
        if (flushed) setTimeout(next, everyMs);
        else socket.once('drain', () => setTimeout(next, everyMs));
      };
      next();
    }));
}

export interface RecordedRequest {
  head: string;
  requestLine: string;
  headers: Array<[string, string]>;
}

export interface RecordingUpstream extends RawUpstream {
  /** Every request head that arrived, in order. */
  requests: RecordedRequest[];
  /** Every byte that arrived on any connection, for a search for smuggled bytes. */
  allBytes(): string;
}

/**
 * Parses only as far as it must to answer (head, then a Content-Length or chunked body) and
 * records each head verbatim. Anything it cannot frame closes the connection, as a strict
 * origin would.
 */
export async function recordingUpstream(): Promise<RecordingUpstream> {
  const requests: RecordedRequest[] = [];
  let all = '';
  const upstream = await listen((socket) => {
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      all += text;
      buffered += text;
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffered.slice(0, end);
        const [requestLine = '', ...lines] = head.split('\r\n');
        const headers = lines.map((line): [string, string] => {
          const colon = line.indexOf(':');
          return colon === -1 ? [line, ''] : [line.slice(0, colon), line.slice(colon + 1).trim()];
        });
        const rest = buffered.slice(end + 4);
        const te = headers.find(([n]) => n.toLowerCase() === 'transfer-encoding')?.[1];
        const cl = headers.find(([n]) => n.toLowerCase() === 'content-length')?.[1];
        let bodyLength: number;
        if (te !== undefined) {
          const last = rest.indexOf('\r\n0\r\n\r\n');
          const first = rest.startsWith('0\r\n\r\n') ? 0 : last === -1 ? -1 : last + 2;
          if (first === -1) return; // wait for the rest of the chunked body
          bodyLength = first + 5;
        } else {
          bodyLength = cl === undefined ? 0 : Number(cl);
          if (!Number.isInteger(bodyLength)) {
            socket.destroy();
            return;
          }
          if (rest.length < bodyLength) return;
        }
        requests.push({ head, requestLine, headers });
        buffered = rest.slice(bodyLength);
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\nx-worker: recorder\r\n\r\nrecorded');
      }
    });
  });
  return { ...upstream, requests, allBytes: () => all };
}
