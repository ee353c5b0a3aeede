import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GpuQueue } from '../../gateway/src/simulator/gpu-queue.js';

/** Submits a job that records its start and keeps its release for the test to call. */
function track(queue: GpuQueue, label: string, started: string[], releases: Map<string, () => void>) {
  return queue.submit((release) => {
    started.push(label);
    releases.set(label, release);
  });
}

test('jobs take free slots at once and the rest start in arrival order as slots free up', () => {
  const queue = new GpuQueue(2, 10);
  const started: string[] = [];
  const releases = new Map<string, () => void>();
  for (const label of ['a', 'b', 'c', 'd']) track(queue, label, started, releases);
  assert.deepEqual(started, ['a', 'b']);
  assert.equal(queue.running, 2);
  assert.equal(queue.waiting, 2);
  releases.get('b')!();
  assert.deepEqual(started, ['a', 'b', 'c']);
  releases.get('a')!();
  assert.deepEqual(started, ['a', 'b', 'c', 'd']);
  assert.equal(queue.waiting, 0);
  assert.equal(queue.counters().peakWaiting, 2);
});

test('a full queue refuses the next job and counts it', () => {
  const queue = new GpuQueue(1, 1);
  const started: string[] = [];
  const releases = new Map<string, () => void>();
  assert.ok(track(queue, 'a', started, releases));
  assert.ok(track(queue, 'b', started, releases));
  assert.equal(track(queue, 'c', started, releases), undefined);
  assert.equal(queue.counters().rejected, 1);
});

test('cancelling a waiting job drops it and cancelling a running one frees its slot', () => {
  const queue = new GpuQueue(1, 10);
  const started: string[] = [];
  const releases = new Map<string, () => void>();
  const a = track(queue, 'a', started, releases)!;
  const b = track(queue, 'b', started, releases)!;
  track(queue, 'c', started, releases);
  b.cancel();
  assert.equal(queue.waiting, 1);
  a.cancel();
  assert.deepEqual(started, ['a', 'c']);
  // Releasing after a cancel must not free a second slot.
  releases.get('a')!();
  assert.equal(queue.running, 1);
});

test('more slots start queued jobs at once; fewer slots let running jobs finish', () => {
  const queue = new GpuQueue(1, 10);
  const started: string[] = [];
  const releases = new Map<string, () => void>();
  for (const label of ['a', 'b', 'c']) track(queue, label, started, releases);
  queue.slots = 3;
  assert.deepEqual(started, ['a', 'b', 'c']);
  queue.slots = 1;
  assert.equal(queue.running, 3);
  track(queue, 'd', started, releases);
  releases.get('a')!();
  releases.get('b')!();
  assert.deepEqual(started, ['a', 'b', 'c']);
  releases.get('c')!();
  assert.deepEqual(started, ['a', 'b', 'c', 'd']);
});

test('a job that finishes synchronously lets the next one start without recursion', () => {
  const queue = new GpuQueue(1, 100_000);
  let holdFirst: (() => void) | undefined;
  queue.submit((release) => {
    holdFirst = release;
  });
  let completed = 0;
  for (let i = 0; i < 50_000; i += 1) {
    queue.submit((release) => {
      completed += 1;
      release();
    });
  }
  assert.equal(queue.waiting, 50_000);
  holdFirst!();
  assert.equal(completed, 50_000);
  assert.equal(queue.running, 0);
});
