import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readEnv } from '../../gateway/src/env.js';
import { parseRedisUrl, redisUrlFromEnv } from '../../plugins/rate-limit/redis-connection.js';

test('a redis:// URL is one server, passed to ioredis as given', () => {
  assert.deepEqual(parseRedisUrl('redis://:pw@cache:6380/2'), { kind: 'single', url: 'redis://:pw@cache:6380/2' });
});

test('redis-cluster:// names the seed nodes, with default ports, credentials and TLS from rediss-cluster://', () => {
  assert.deepEqual(parseRedisUrl('redis-cluster://a:7000,b,[::1]:7002'), {
    kind: 'cluster',
    nodes: [
      { host: 'a', port: 7000 },
      { host: 'b', port: 6379 },
      { host: '::1', port: 7002 },
    ],
    username: undefined,
    password: undefined,
    tls: false,
  });
  const t = parseRedisUrl('rediss-cluster://user:p%40ss@a:7000/');
  assert.equal(t.kind, 'cluster');
  assert.deepEqual([t.kind === 'cluster' && t.username, t.kind === 'cluster' && t.password, t.kind === 'cluster' && t.tls], ['user', 'p@ss', true]);
});

test('REDIS_CLUSTER=1 turns a redis:// URL into the cluster it seeds; REDIS_URL is checked at start', () => {
  assert.equal(redisUrlFromEnv('redis://10.0.0.1:7000', '1'), 'redis-cluster://10.0.0.1:7000');
  assert.equal(redisUrlFromEnv('rediss://10.0.0.1:7000', 'true'), 'rediss-cluster://10.0.0.1:7000');
  assert.equal(redisUrlFromEnv('redis://10.0.0.1:7000', undefined), 'redis://10.0.0.1:7000');
  assert.equal(redisUrlFromEnv(undefined, undefined), undefined);
  assert.equal(readEnv({ REDIS_URL: 'redis://h:1', REDIS_CLUSTER: '1' }).redisUrl, 'redis-cluster://h:1');
  assert.throws(() => readEnv({ REDIS_URL: 'http://h:1' }), /REDIS_URL must start with redis:\/\//);
  assert.throws(() => redisUrlFromEnv(undefined, '1'), /REDIS_CLUSTER=1 needs REDIS_URL/);
  assert.throws(() => redisUrlFromEnv('redis://h', 'maybe'), /REDIS_CLUSTER must be 1 or 0/);
  assert.throws(() => redisUrlFromEnv('redis://h:1/3', '1'), /only database 0/);
});

test('redis-sentinel:// names the Sentinels and the master; a missing master name is an error', () => {
  assert.deepEqual(parseRedisUrl('redis-sentinel://:secret@s1:26379,s2/mymaster?sentinelPassword=sp'), {
    kind: 'sentinel',
    sentinels: [
      { host: 's1', port: 26379 },
      { host: 's2', port: 26379 },
    ],
    name: 'mymaster',
    username: undefined,
    password: 'secret',
    sentinelPassword: 'sp',
    tls: false,
  });
  assert.throws(() => parseRedisUrl('redis-sentinel://s1:26379'), /must name the master/);
  assert.throws(() => parseRedisUrl('redis-sentinel://s1:99999/m'), /must be host or host:port/);
});
