import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demoPlan } from '../../gateway/src/demo.js';
import { readEnv } from '../../gateway/src/env.js';

const plan = (DEMO: string | undefined, storeKind: 'file' | 'mongodb', empty: boolean, hasDemoUpstream = false) =>
  demoPlan({ demo: readEnv(DEMO === undefined ? {} : { DEMO }).demo, storeKind, empty, hasDemoUpstream });

test('by default the demo is seeded on an empty embedded store, and never on an empty MongoDB store', () => {
  assert.deepEqual(plan(undefined, 'file', true), { workers: true, seed: true });
  assert.deepEqual(plan(undefined, 'mongodb', true), { workers: false, seed: false }, 'a MongoDB store may be production: no demo unless asked');
  assert.deepEqual(plan('', 'mongodb', true), { workers: false, seed: false });
});

test('DEMO=1 seeds an empty MongoDB store too; DEMO=0 seeds nothing anywhere', () => {
  assert.deepEqual(plan('1', 'mongodb', true), { workers: true, seed: true });
  assert.deepEqual(plan('0', 'file', true), { workers: false, seed: false });
  assert.deepEqual(plan('off', 'mongodb', true), { workers: false, seed: false });
});

test('a store that holds configuration is never seeded; DEMO=1 restarts the workers of a demo seeded earlier', () => {
  assert.deepEqual(plan(undefined, 'file', false, true), { workers: false, seed: false });
  assert.deepEqual(plan('1', 'file', false, true), { workers: true, seed: false });
  assert.deepEqual(plan('1', 'mongodb', false, true), { workers: true, seed: false });
  assert.deepEqual(plan('1', 'file', false, false), { workers: false, seed: false }, 'no demo upstream: nothing would use the workers');
});
