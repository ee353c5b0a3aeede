import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { unusedPort } from '../helpers/echo-upstream.js';

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Start again on the same port (after stop). */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its sockets open and answers nothing (a hung Redis). */
  freeze(): void;
  /** SIGCONT: it processes everything that reached its sockets meanwhile. */
  thaw(): void;
}

/**
 * A throwaway Debian redis-server on a free port, no persistence. Missing redis-server is a
 * failure, not a skip: CI installs it (`apt-get install -y redis-server`) and a silently skipped
 * Redis test would hide that shared limits were never checked.
 */
export async function startRedis(): Promise<RedisServer> {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0)
    throw new Error('redis-server is not installed; these tests need a real Redis: apt-get install -y redis-server');
  const port = await unusedPort();
  let child: ChildProcess | undefined;
  const launch = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 5000;
    for (;;) {
      if (await pings(port)) return;
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
      await sleep(25);
    }
  };
  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      await exited;
    },
    restart: launch,
    freeze: () => void child?.kill('SIGSTOP'),
    thaw: () => void child?.kill('SIGCONT'),
  };
}

function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => {
      socket.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
