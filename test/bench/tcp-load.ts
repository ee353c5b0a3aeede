import { connect, type Socket } from 'node:net';

/** What one load run saw. */
export interface TcpLoadResult {
  /** Bytes that came back (echoed) in the window. */
  bytes: number;
  /** Connections opened, used for one exchange and closed, in the window. */
  connections: number;
  errors: number;
  seconds: number;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);
/** Bytes a throughput connection keeps in flight (sent, not yet echoed): enough to fill the pipes, bounded. */
const IN_FLIGHT = 1024 * 1024;

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Bulk transfer: `connections` long-lived connections each stream 64 KiB chunks through the proxy
 * to the echo target and read them back, for `seconds`. Measures bytes per second and, with the
 * proxy's CPU over the same window, CPU per gigabyte.
 */
export async function throughput(port: number, connections: number, seconds: number): Promise<TcpLoadResult> {
  const sockets = await Promise.all(Array.from({ length: connections }, () => open(port)));
  let bytes = 0;
  let errors = 0;
  let running = true;
  const started = performance.now();
  for (const socket of sockets) {
    let sent = 0;
    let received = 0;
    const pump = () => {
      while (running && sent - received < IN_FLIGHT) {
        sent += CHUNK.length;
        if (!socket.write(CHUNK)) return socket.once('drain', pump);
      }
    };
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (running) bytes += chunk.length;
      pump();
    });
    socket.on('error', () => errors++);
    pump();
  }
  await new Promise((r) => setTimeout(r, seconds * 1000));
  running = false;
  const elapsed = (performance.now() - started) / 1000;
  for (const socket of sockets) socket.destroy();
  return { bytes, connections: 0, errors, seconds: elapsed };
}

/**
 * Connection churn: `concurrency` loops each open a connection, send 32 bytes, wait for them to
 * come back and close, as fast as they can, for `seconds`. Measures connections per second and
 * CPU per connection (accept, pick, connect to the target, two closes).
 */
export async function connectionRate(port: number, concurrency: number, seconds: number): Promise<TcpLoadResult> {
  const message = Buffer.alloc(32, 0x62);
  let connections = 0;
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const loop = async () => {
    while (performance.now() < deadline) {
      try {
        const socket = await open(port);
        await new Promise<void>((resolve, reject) => {
          let got = 0;
          socket.on('data', (chunk: Buffer) => {
            got += chunk.length;
            if (got >= message.length) resolve();
          });
          socket.once('error', reject);
          socket.once('close', () => (got >= message.length ? resolve() : reject(new Error('closed early'))));
          socket.write(message);
        });
        socket.destroy();
        connections++;
      } catch {
        errors++;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { bytes: 0, connections, errors, seconds: (performance.now() - started) / 1000 };
}

/** True once something on `port` accepts a connection and echoes a byte. */
export async function echoes(port: number): Promise<boolean> {
  try {
    const socket = await open(port);
    const ok = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 1000);
      socket.once('data', () => {
        clearTimeout(timer);
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.write('x');
    });
    socket.destroy();
    return ok;
  } catch {
    return false;
  }
}
