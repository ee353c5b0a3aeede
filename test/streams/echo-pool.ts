import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** A TCP target that answers every chunk with `<name>:<chunk>`, recording what it received first. */
export interface EchoTarget {
  name: string;
  port: number;
  url: string;
  /** The first bytes of each connection (a PROXY header when the stream sends one). */
  firstChunks: Buffer[];
  open: Set<Socket>;
  close(): Promise<void>;
}

export async function echoTarget(name: string): Promise<EchoTarget> {
  const open = new Set<Socket>();
  const firstChunks: Buffer[] = [];
  const server: Server = createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => {});
    let first = true;
    socket.on('data', (chunk) => {
      if (first) firstChunks.push(chunk);
      first = false;
      socket.write(`${name}:${chunk.toString('latin1')}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    firstChunks,
    open,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on: bound, read, released. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A client connection to a stream, reading what comes back. */
export interface TcpClient {
  socket: Socket;
  /** Send `text`, resolve with the first reply chunk (or reject on close/timeout). */
  ask(text: string, timeoutMs?: number): Promise<string>;
  /** Resolves when the connection closes. */
  closed: Promise<void>;
}

export async function tcpClient(port: number): Promise<TcpClient> {
  const socket = connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    closed,
    ask(text, timeoutMs = 3000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`no reply to "${text}" within ${timeoutMs} ms`)), timeoutMs);
        const onData = (chunk: Buffer) => done(undefined, chunk.toString('latin1'));
        const onClose = () => done(new Error(`connection closed before a reply to "${text}"`));
        const done = (err?: Error, value?: string) => {
          clearTimeout(timer);
          socket.off('data', onData);
          socket.off('close', onClose);
          if (err) reject(err);
          else resolve(value!);
        };
        socket.on('data', onData);
        socket.once('close', onClose);
        socket.write(text);
      });
    },
  };
}

/** One connection, one question, the answering target's name; the connection is closed after. */
export async function whoAnswers(port: number): Promise<string> {
  const client = await tcpClient(port);
  try {
    const reply = await client.ask('hi');
    return reply.split(':')[0]!;
  } finally {
    client.socket.destroy();
  }
}
