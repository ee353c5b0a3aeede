import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { redisCli as cli, startRedisGroup, untilRedis } from './redis-server.js';

export interface RedisCluster {
  /** `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` */
  url: string;
  ports: number[];
  /** Run redis-cli against one node and return its stdout. */
  cli(port: number, ...args: string[]): string;
  stop(): Promise<void>;
}

/**
 * A free port whose cluster bus port (port + 10 000, Redis' fixed offset) is free too. Both lie
 * below Linux's ephemeral range (32 768 and up): a port checked free there could be handed to
 * another test's port-0 listener or outgoing connection before redis-server binds it, and the
 * server would exit (a Node 22 CI run timed out waiting for one).
 */
async function clusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 2_768);
    if (taken.has(port) || !(await free(port)) || !(await free(port + 10_000))) continue;
    taken.add(port);
    return port;
  }
}

function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

const until = (check: () => boolean, what: string) => untilRedis(check, what, 15_000);

/**
 * A real three-master Redis Cluster from Debian's redis-server, no replicas, no persistence:
 * three `--cluster-enabled yes` servers joined by `redis-cli --cluster create`, ready when every
 * node reports cluster_state:ok. Missing redis-server is a failure, not a skip (see redis-server.ts).
 */
export async function startRedisCluster(): Promise<RedisCluster> {
  const group = await startRedisGroup('redis-cluster');
  const taken = new Set<number>();
  const ports = [await clusterPort(taken), await clusterPort(taken), await clusterPort(taken)];
  await group.started(async () => {
    for (const port of ports) group.server(port, '--cluster-enabled', 'yes', '--cluster-config-file', join(group.dir, `nodes-${port}.conf`));
    for (const port of ports) await until(() => cli(port, 'PING').trim() === 'PONG', `redis-server on ${port}`);
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const port of ports) await until(() => cli(port, 'CLUSTER', 'INFO').includes('cluster_state:ok'), `cluster_state:ok on ${port}`);
  });
  return { url: `redis-cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`, ports, cli, stop: group.stop };
}
