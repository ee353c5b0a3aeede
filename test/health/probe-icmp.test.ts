import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createIcmpProbe, PING_MISSING } from '../../gateway/src/health/probe-icmp.js';
import { HealthChecker, createProbe, type ActiveConfig } from '../../gateway/src/health/active-checker.js';
import { active, registries, upstream, waitFor } from './fixtures.js';

const config = { ...active({ type: 'icmp', timeoutMs: 1000 }) } as ActiveConfig;
const hasPing = spawnSync('ping', ['-V']).error === undefined;

test('without a system ping the icmp check fails with a clear error and nothing crashes', async (t) => {
  const reg = registries();
  // The probe factory points at a ping that cannot exist, so this runs on every machine.
  const checker = new HealthChecker({
    createProbe: (origin, c) => (c.type === 'icmp' ? createIcmpProbe(origin, c, 'ping-not-installed-here') : createProbe(origin, c)),
  }).attach(reg.pools);
  t.after(async () => {
    checker.close();
    await reg.close();
  });
  const pool = reg.pools.apply([upstream('icmp', ['http://127.0.0.1:9'], { healthCheck: { active: active({ type: 'icmp' }) } })]).get('icmp')!;
  const state = pool.members[0]!.target;
  await waitFor(() => !state.healthy, 3000, 'unhealthy');
  assert.equal(state.lastCheck!.detail, PING_MISSING);
});

test('the icmp check of 127.0.0.1 gets an echo reply when ping is installed', { skip: hasPing ? false : 'no system ping on this machine' }, async () => {
  const result = await createIcmpProbe('http://127.0.0.1:8000', config).run();
  assert.equal(result.ok, true, result.detail);
  assert.ok(result.latencyMs >= 0 && result.latencyMs < 1000);
});

test('the system ping as found on this machine: a reply, or the install hint', async () => {
  const result = await createIcmpProbe('http://127.0.0.1:8000', config).run();
  if (hasPing) assert.equal(result.ok, true, result.detail);
  else assert.equal(result.detail, PING_MISSING);
});
