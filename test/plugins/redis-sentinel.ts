import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { unusedPort } from '../helpers/echo-upstream.js';
import { redisCli as cli, startRedisGroup, untilRedis } from './redis-server.js';

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

const until = (check: () => boolean, what: string) => untilRedis(check, what, 20_000);

/**
 * A master, its replica and one Sentinel watching them (quorum 1), all Debian's redis-server
 * (`--sentinel` is the same binary), no persistence. The Sentinel's config file is its own to
 * rewrite, in a temp dir.
 */
export async function startRedisSentinel(): Promise<RedisSentinelSetup> {
  const group = await startRedisGroup('redis-sentinel');
  const { dir } = group;
  const [masterPort, replicaPort, sentinelPort] = [await unusedPort(), await unusedPort(), await unusedPort()];
  await group.started(async () => {
    group.server(masterPort);
    group.server(replicaPort, '--replicaof', '127.0.0.1', String(masterPort));
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
    group.spawn([conf, '--sentinel']);
    await until(() => cli(sentinelPort, 'SENTINEL', 'get-master-addr-by-name', MASTER_NAME).includes(String(masterPort)), 'the Sentinel naming the master');
    await until(() => /num-slaves\n1\b/.test(cli(sentinelPort, 'SENTINEL', 'master', MASTER_NAME)), 'the Sentinel knowing the replica');
  });
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
    stop: group.stop,
  };
}
