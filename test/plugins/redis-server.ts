import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
 * Missing redis-server is a failure, not a skip: CI installs it (`apt-get install -y
 * redis-server`) and a silently skipped Redis test would hide that shared limits were never checked.
 */
export function mustHaveRedisServer(): void {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0)
    throw new Error('redis-server is not installed; these tests need a real Redis: apt-get install -y redis-server');
}

/** A throwaway Debian redis-server on a free port, no persistence. */
export async function startRedis(): Promise<RedisServer> {
  mustHaveRedisServer();
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

/** Run redis-cli against one server and return its stdout. */
export function redisCli(port: number, ...args: string[]): string {
  const run = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });
  if (run.error) throw run.error;
  return run.stdout;
}

/** Poll a redis-cli check until it holds. */
export async function untilRedis(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Several Redis processes started together (a cluster, a master with replica and Sentinel), stopped together. */
export interface RedisGroup {
  /** A temp dir for their node and Sentinel files; removed by stop(). */
  dir: string;
  /** redis-server on `port`, bound to 127.0.0.1, no persistence, files in `dir`; `extra` after. */
  server(port: number, ...extra: string[]): void;
  /** redis-server with exactly these arguments (a Sentinel's config file). */
  spawn(args: string[]): void;
  /**
   * Run `setup`; if it throws, stop everything first so a failed start leaves no server behind.
   * SIGKILL, since nothing they hold is kept.
   */
  started(setup: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisGroup(name: string): Promise<RedisGroup> {
  mustHaveRedisServer();
  const dir = await mkdtemp(join(tmpdir(), `sb-${name}-`));
  const children: ChildProcess[] = [];
  const spawnServer = (args: string[]) => void children.push(spawn('redis-server', args, { stdio: 'ignore' }));
  const stop = async () => {
    await Promise.all(
      children.map((c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
        c.kill('SIGKILL');
        return exited;
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };
  return {
    dir,
    server: (port, ...extra) => spawnServer(['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra]),
    spawn: spawnServer,
    async started(setup) {
      try {
        await setup();
      } catch (err) {
        await stop();
        throw err;
      }
    },
    stop,
  };
}
