import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { readConfigFile } from '../../gateway/src/cli/read-config-file.js';
import { substituteEnv } from '../../gateway/src/cli/env-substitution.js';
import { validateConfig } from '../../spec/validate.js';

const DOCKER = fileURLToPath(new URL('../../../docker/', import.meta.url));
const COMPOSE = join(DOCKER, 'compose.yaml');
const run = promisify(execFile);

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: Array<{ published: number | string; target: number; host_ip?: string } | string>;
  depends_on?: Record<string, { condition: string }>;
}

/** `docker-compose config`: Debian's docker-compose validates and resolves the file without an engine. */
async function composeConfig(env: Record<string, string>): Promise<{ services: Record<string, Service> }> {
  const { stdout } = await run('docker-compose', ['-f', COMPOSE, 'config'], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env } });
  return parseYaml(stdout) as { services: Record<string, Service> };
}

test('docker-compose config -q accepts the compose file', async () => {
  await run('docker-compose', ['-f', COMPOSE, 'config', '-q'], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ADMIN_PASSWORD: 'a-test-passphrase' } });
});

test('the compose file refuses to start without an admin password, naming it', async () => {
  await assert.rejects(run('docker-compose', ['-f', COMPOSE, 'config', '-q'], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } }), (err: { stderr: string }) => {
    assert.match(err.stderr, /ADMIN_PASSWORD/);
    return true;
  });
});

test('two gateway nodes share a MongoDB replica set and Redis, behind HAProxy, with three simulated GPUs', async () => {
  const { services } = await composeConfig({ ADMIN_PASSWORD: 'a-test-passphrase' });
  const gateways = Object.entries(services).filter(([, s]) => s.command === undefined && s.image === 'switchboard:dev');
  assert.deepEqual(gateways.map(([name]) => name).sort(), ['gateway1', 'gateway2']);
  for (const [, gateway] of gateways) {
    // A multi-host MongoDB URL is no WHATWG URL: read its parts directly.
    const store = /^mongodb:\/\/([^/]+)\/([^?]+)\?(.*)$/.exec(gateway.environment!.STORE_URL!);
    assert.ok(store, `STORE_URL is a mongodb:// URL with a database: ${gateway.environment!.STORE_URL}`);
    assert.equal(store[1]!.split(',').length, 3, 'every member is a seed, so a node starts while one is down');
    assert.equal(store[2], 'switchboard');
    assert.equal(new URLSearchParams(store[3]).get('replicaSet'), 'rs0');
    assert.match(gateway.environment!.REDIS_URL!, /^redis:\/\/redis:6379/);
    assert.equal(gateway.depends_on?.['mongo-init']?.condition, 'service_completed_successfully', 'a gateway starts once the set is initiated');
    // The admin listener is published on the host's loopback only.
    for (const port of gateway.ports ?? []) {
      const p = typeof port === 'string' ? { host_ip: port.split(':')[0], target: Number(port.split(':').at(-1)!.split('/')[0]) } : port;
      if (p.target === 9080) assert.equal(p.host_ip, '127.0.0.1');
    }
  }
  const mongos = Object.entries(services).filter(([, s]) => s.image?.startsWith('mongo:') && s.command?.[0] === 'mongod');
  assert.equal(mongos.length, 3);
  for (const [, m] of mongos) assert.deepEqual(m.command!.slice(1, 3), ['--replSet', 'rs0']);
  const init = services['mongo-init']!;
  assert.match(init.command!.join(' '), /rs\.initiate/);
  for (const [name] of mongos) assert.match(init.command!.join(' '), new RegExp(`host: '${name}:27017'`));
  assert.ok(services.redis?.image?.startsWith('redis:'));
  const gpus = Object.values(services).filter((s) => s.command?.includes('dist/gateway/src/simulator/main.js'));
  assert.equal(gpus.length, 3);
  assert.ok(services.haproxy?.image?.startsWith('haproxy:'));
});

test('haproxy -c accepts docker/haproxy.cfg, which checks every gateway node on /readyz at L4', async () => {
  const { stdout, stderr } = await run('haproxy', ['-c', '-f', join(DOCKER, 'haproxy.cfg')]);
  assert.match(stdout + stderr, /Configuration file is valid/);
  const cfg = (await import('node:fs/promises')).readFile(join(DOCKER, 'haproxy.cfg'), 'utf8');
  const text = await cfg;
  assert.match(text, /^defaults[\s\S]*?^\s+mode tcp$/m);
  assert.match(text, /http-check send meth GET uri \/readyz/);
  const { services } = await composeConfig({ ADMIN_PASSWORD: 'a-test-passphrase' });
  for (const name of Object.keys(services).filter((n) => /^gateway\d+$/.test(n))) assert.match(text, new RegExp(`server ${name} ${name}:8080`));
});

test('haproxy -c refuses a broken configuration (the check can fail)', async () => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'sb-haproxy-'));
  try {
    await writeFile(join(dir, 'bad.cfg'), 'defaults\n    mode tcp\nbackend b\n    server x\n');
    await assert.rejects(run('haproxy', ['-c', '-f', join(dir, 'bad.cfg')]));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('docker/gpu-pool.yaml is a valid configuration for the compose file\'s three GPUs once GPU_TIMEOUT_MS is set', async () => {
  const path = join(DOCKER, 'gpu-pool.yaml');
  await assert.rejects(readConfigFile(path, (text) => substituteEnv(text, {}, path)), /GPU_TIMEOUT_MS is not set/);
  const config = validateConfig(await readConfigFile(path, (text) => substituteEnv(text, { GPU_TIMEOUT_MS: '120000' }, path)));
  assert.equal(config.routes[0]!.timeoutMs, 120000);
  const { services } = await composeConfig({ ADMIN_PASSWORD: 'a-test-passphrase' });
  const gpus = Object.entries(services).filter(([, s]) => s.command?.includes('dist/gateway/src/simulator/main.js'));
  assert.deepEqual(
    config.upstreams[0]!.targets.map((t) => t.url).sort(),
    gpus.map(([name, s]) => `http://${name}:${s.command![s.command!.indexOf('--port') + 1]}`).sort(),
  );
});
