import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readEnv } from '../../gateway/src/env.js';
import { workerCount } from '../../gateway/src/cluster/worker-count.js';
import { availableParallelism } from 'node:os';

test('WORKERS, DRAIN_DELAY_MS and SHUTDOWN_TIMEOUT_MS default to the entry default, 5 s and 10 min', () => {
  const env = readEnv({});
  assert.equal(env.workers, undefined);
  assert.equal(env.drainDelayMs, 5_000);
  assert.equal(env.shutdownTimeoutMs, 600_000);
  assert.equal(workerCount(env.workers), 1, 'npm start: one process');
  assert.equal(workerCount(env.workers, 'auto'), availableParallelism(), 'switchboard start: one per CPU');
  assert.equal(workerCount(readEnv({ WORKERS: 'AUTO' }).workers), availableParallelism());
  assert.equal(readEnv({ WORKERS: ' 3 ', DRAIN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '1500' }).workers, 3);
  assert.equal(readEnv({ DRAIN_DELAY_MS: '0' }).drainDelayMs, 0);
});

test('a WORKERS, DRAIN_DELAY_MS or SHUTDOWN_TIMEOUT_MS the gateway would read differently than meant stops the start, naming the variable', () => {
  for (const WORKERS of ['0', '-1', '1.5', 'two', '257', '0x2'])
    assert.throws(() => readEnv({ WORKERS }), new RegExp(`WORKERS must be a number of processes \\(1-256\\) or "auto", got "${WORKERS.replace('.', '\\.')}"`));
  for (const value of ['-1', '5s', '1e3', '2147483648', '1.5'])
    for (const name of ['DRAIN_DELAY_MS', 'SHUTDOWN_TIMEOUT_MS']) assert.throws(() => readEnv({ [name]: value }), new RegExp(`^Error: ${name} must be a whole number of milliseconds`));
});
