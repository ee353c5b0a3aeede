import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { unusedPort } from '../helpers/echo-upstream.js';

export interface PasswordRedis {
  port: number;
  stop(): Promise<void>;
}

/** A throwaway Debian redis-server that demands `password` (requirepass), no persistence. */
export async function startRedisWithPassword(password: string): Promise<PasswordRedis> {
  const port = await unusedPort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', password], { stdio: 'ignore' });
  child.once('error', () => {});
  const deadline = Date.now() + 5000;
  while (!(await answers(port))) {
    if (child.exitCode !== null) throw new Error('redis-server exited (is it installed? apt-get install -y redis-server)');
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
    await sleep(25);
  }
  return {
    port,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Any RESP answer (here -NOAUTH) means the server is up. */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.setTimeout(500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
