/**
 * The TCP benchmark's reference: the least a Node TCP proxy does (accept, connect, pipe both
 * ways), so Switchboard's streams are judged against Node's own cost as well as HAProxy's.
 * Argument: JSON `{ "port": N, "target": M }`. Prints "listening" when bound.
 */
import { connect, createServer } from 'node:net';

const { port, target } = JSON.parse(process.argv[2] ?? '{}') as { port: number; target: number };
const server = createServer({ noDelay: true }, (client) => {
  const upstream = connect({ port: target, host: '127.0.0.1', noDelay: true });
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.pipe(upstream);
  upstream.pipe(client);
});
server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
