import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompileTimeoutError, containCompile } from '../../gateway/src/generation/compile-guard.js';

const never = () => new Promise<never>(() => {});

test('a compile that never settles fails after its time limit instead of hanging the reload', async () => {
  const started = Date.now();
  await assert.rejects(containCompile(never, 100, () => {}), CompileTimeoutError);
  assert.ok(Date.now() - started < 2000);
});

test('what a compile that already failed produces late is handed to abandon, never to the caller', async () => {
  const abandoned: string[] = [];
  let finish!: (value: string) => void;
  const late = () => new Promise<string>((resolve) => (finish = resolve));
  await assert.rejects(containCompile(late, 50, (value) => abandoned.push(value)), CompileTimeoutError);
  finish('generation built too late');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(abandoned, ['generation built too late']);
});

test('a synchronous throw and a rejection are both the compile’s failure; a success is returned as is', async () => {
  await assert.rejects(
    containCompile(() => {
      throw new RangeError('thrown synchronously');
    }, 1000, () => {}),
    /thrown synchronously/,
  );
  await assert.rejects(containCompile(() => Promise.reject(new Error('rejected')), 1000, () => {}), /rejected/);
  assert.equal(await containCompile(async () => 42, 1000, () => {}), 42);
  // Nothing is left listening once no compile runs.
  assert.equal(process.listeners('uncaughtException').some((l) => l.name === 'trap'), false);
});
