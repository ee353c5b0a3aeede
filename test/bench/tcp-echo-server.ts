/**
 * The TCP benchmark's target, run as its own process so its CPU is not the proxy's: every byte
 * received is written back. Argument: JSON `{ "port": N }`. Prints "listening" when bound.
 */
import { createServer } from 'node:net';

const { port } = JSON.parse(process.argv[2] ?? '{}') as { port: number };
const server = createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});
server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
