import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPicker as roundRobin } from '../../gateway/src/balancer/round-robin.js';
import { createPicker as weightedRoundRobin } from '../../gateway/src/balancer/weighted-round-robin.js';
import { ctx, members, tally, upstream } from './fixtures.js';

test('round robin gives three targets exactly a third each', () => {
  const pool = members([1, 1, 1]);
  const picker = roundRobin({ members: pool, upstream: upstream('round-robin', pool) });
  assert.deepEqual(tally(picker, pool, 300), [100, 100, 100]);
});

test('weighted round robin with 2:3:5 gives exactly 20/30/50 in every 100 picks, interleaved', () => {
  const pool = members([2, 3, 5]);
  const picker = weightedRoundRobin({ members: pool, upstream: upstream('weighted-round-robin', pool) });
  for (let block = 0; block < 5; block++) assert.deepEqual(tally(picker, pool, 100), [20, 30, 50]);
  // Smooth: every window of 10 (one cycle) is exact, and the heavy target never runs 3 in a row.
  const order: number[] = [];
  for (let i = 0; i < 100; i++) order.push(picker.pick(pool, ctx()).index);
  for (let w = 0; w < 100; w += 10) {
    const window = order.slice(w, w + 10);
    assert.deepEqual([0, 1, 2].map((i) => window.filter((x) => x === i).length), [2, 3, 5]);
  }
  let run = 0;
  let longest = 0;
  for (const i of order) {
    run = i === 2 ? run + 1 : 0;
    longest = Math.max(longest, run);
  }
  assert.ok(longest <= 2, `heavy target ran ${longest} in a row`);
});

test('weighted round robin keeps exact shares among the rest when a target drops out and comes back', () => {
  const pool = members([2, 3, 5]);
  const picker = weightedRoundRobin({ members: pool, upstream: upstream('weighted-round-robin', pool) });
  tally(picker, pool, 13); // mid-cycle
  const rest = [pool[0]!, pool[2]!];
  const counts = tally(picker, rest, 700);
  assert.ok(Math.abs(counts[0]! - 200) <= 1 && Math.abs(counts[2]! - 500) <= 1, `got ${counts}`);
  assert.equal(counts[1], 0);
  const back = tally(picker, pool, 1000);
  assert.ok(Math.abs(back[0]! - 200) <= 2 && Math.abs(back[1]! - 300) <= 2 && Math.abs(back[2]! - 500) <= 2, `got ${back}`);
});

test('weighted round robin follows slow-start weights, fractional ones included', () => {
  const pool = members([1, 1]);
  pool[1]!.effectiveWeight = 0.25;
  const picker = weightedRoundRobin({ members: pool, upstream: upstream('weighted-round-robin', pool) });
  assert.deepEqual(tally(picker, pool, 500), [400, 100]);
});
