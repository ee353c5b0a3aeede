import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { unusedPort } from '../helpers/echo-upstream.js';

export interface RedisSentinelSetup {
  /** `redis-sentinel://127.0.0.1:S/mymaster` */
  url: string;
  masterPort: number;
  replicaPort: number;
  sentinelPort: number;
  cli(port: number, ...args: string[]): string;
  /** Ask the Sentinel to promote the replica; resolves once it names the new master and the old one stepped down. */
  failover(): Promise<void>;
  stop(): Promise<void>;
}

export const MASTER_NAME = 'mymaster';

function cli(port: number, ...args: string[]): string {
  const run = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });
  if (run.error) throw run.error;
  return run.stdout;
}

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * A master, its replica and one Sentinel watching them (quorum 1), all Debian's redis-server
 * (`--sentinel` is the same binary), no persistence. The Sentinel's config file is its own to
 * rewrite, in a temp dir.
 */
export async function startRedisSentinel(): Promise<RedisSentinelSetup> {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) throw new Error('redis-server is not installed; these tests need a real Redis: apt-get install -y redis-server');
  const dir = await mkdtemp(join(tmpdir(), 'sb-redis-sentinel-'));
  const [masterPort, replicaPort, sentinelPort] = [await unusedPort(), await unusedPort(), await unusedPort()];
  const base = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const children: ChildProcess[] = [];
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
  try {
    children.push(spawn('redis-server', ['--port', String(masterPort), ...base], { stdio: 'ignore' }));
    children.push(spawn('redis-server', ['--port', String(replicaPort), '--replicaof', '127.0.0.1', String(masterPort), ...base], { stdio: 'ignore' }));
    await until(() => cli(replicaPort, 'INFO', 'replication').includes('master_link_status:up'), 'the replica in sync');
    const conf = join(dir, 'sentinel.conf');
    await writeFile(
      conf,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 1`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
        '',
      ].join('\n'),
    );
    children.push(spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    await until(() => cli(sentinelPort, 'SENTINEL', 'get-master-addr-by-name', MASTER_NAME).includes(String(masterPort)), 'the Sentinel naming the master');
    await until(() => /num-slaves\n1\b/.test(cli(sentinelPort, 'SENTINEL', 'master', MASTER_NAME)), 'the Sentinel knowing the replica');
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `redis-sentinel://127.0.0.1:${sentinelPort}/${MASTER_NAME}`,
    masterPort,
    replicaPort,
    sentinelPort,
    cli,
    async failover() {
      cli(sentinelPort, 'SENTINEL', 'FAILOVER', MASTER_NAME);
      await until(() => cli(sentinelPort, 'SENTINEL', 'get-master-addr-by-name', MASTER_NAME).includes(String(replicaPort)), 'the Sentinel naming the replica as master');
      await until(() => cli(replicaPort, 'ROLE').startsWith('master'), 'the replica promoted');
      // Sentinel turns the old master into a replica (and drops its clients) a moment later.
      await until(() => cli(masterPort, 'ROLE').startsWith('slave'), 'the old master stepping down');
    },
    stop,
  };
}
