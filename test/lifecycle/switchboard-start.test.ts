import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GATEWAY_GLIBC_TUNABLES } from '../../gateway/src/runtime-flags.js';
import { gatewayProcessesUnder } from '../helpers/process-tree.js';
import { ADMIN, get, ROOT } from './lifecycle-harness.js';

test('`switchboard start` runs one worker per CPU by default, and SIGTERM to it drains and exits 0', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-cli-start-'));
  const child = spawn(process.execPath, [join(ROOT, 'bin/switchboard.js'), 'start'], {
    cwd: ROOT,
    env: { ...process.env, WORKERS: '', STORE_URL: `file:${join(dir, 'store.json')}`, DEMO: '0', PORT: '0', HOST: '127.0.0.1', ADMIN_PORT: '0', ADMIN_EMAIL: ADMIN.email, ADMIN_PASSWORD: ADMIN.password, LOG_LEVEL: 'warn', DRAIN_DELAY_MS: '500' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  while (!/admin console\s+(\S+)\//.test(out)) {
    assert.equal(child.exitCode, null, `switchboard start exited: ${out}`);
    assert.ok(Date.now() < deadline, `switchboard start did not start: ${out}`);
    await sleep(50);
  }
  const cpus = availableParallelism();
  if (cpus > 1) assert.match(out, new RegExp(`workers\\s+${cpus} processes`), 'one worker per CPU');
  else assert.doesNotMatch(out, /workers\s+\d+ processes/, 'one CPU: one process, no primary');
  const publicUrl = /partner traffic\s+(\S+)/.exec(out)![1]!;
  assert.equal((await get(`${publicUrl}/readyz`)).status, 200);
  // The gateway (the re-spawned CLI and every worker it forks) starts with runtime-flags.ts' malloc setting.
  const gateways = gatewayProcessesUnder(child.pid!);
  assert.ok(gateways.length >= 1, 'the CLI runs the gateway in a child');
  assert.deepEqual(gateways.map((g) => g.env.GLIBC_TUNABLES), gateways.map(() => GATEWAY_GLIBC_TUNABLES));
  child.kill('SIGTERM');
  await sleep(200);
  assert.equal((await get(`${publicUrl}/readyz`)).status, 503, 'draining at once');
  assert.equal(await exited, 0, out);
});
