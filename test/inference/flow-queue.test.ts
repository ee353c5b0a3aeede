import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlowQueue, type QueueRefusal, type QueueWaiter } from '../../gateway/src/balancer/flow-queue.js';

/** A waiter that records what became of it, in one shared log. */
function waiter(log: string[], flow: string, label: string, weight = 1, priority = 0): QueueWaiter & { outcome?: string } {
  const w: QueueWaiter & { outcome?: string } = {
    flow,
    weight,
    priority,
    release() {
      w.outcome = 'released';
      log.push(label);
    },
    refuse(reason: QueueRefusal) {
      w.outcome = reason;
    },
  };
  return w;
}

function drain(queue: FlowQueue): void {
  while (queue.releaseNext());
}

test('a higher priority class is released before any lower one, whatever the arrival order', () => {
  const queue = new FlowQueue({ maxSize: 100, timeoutMs: 60_000 });
  const log: string[] = [];
  for (let i = 0; i < 3; i++) queue.enqueue(waiter(log, 'batch', `low${i}`, 10, 0));
  queue.enqueue(waiter(log, 'interactive', 'high0', 1, 5));
  queue.enqueue(waiter(log, 'batch', 'low3', 10, 0));
  queue.enqueue(waiter(log, 'interactive', 'high1', 1, 5));
  drain(queue);
  assert.deepEqual(log, ['high0', 'high1', 'low0', 'low1', 'low2', 'low3']);
});

test('within a class, backlogged consumers share the releases in proportion to their weights', () => {
  const queue = new FlowQueue({ maxSize: 1000, timeoutMs: 60_000 });
  const log: string[] = [];
  for (let i = 0; i < 200; i++) {
    queue.enqueue(waiter(log, 'gold', 'gold', 3));
    queue.enqueue(waiter(log, 'bronze', 'bronze', 1));
  }
  // The first 100 releases, while both are backlogged: 3 to 1.
  for (let i = 0; i < 100; i++) queue.releaseNext();
  const gold = log.filter((l) => l === 'gold').length;
  assert.ok(gold >= 74 && gold <= 76, `gold got ${gold} of 100 releases, expected 75`);
  queue.close();
});

test('a consumer returning from idle is not owed its idle time: it interleaves, it does not jump the queue', () => {
  const queue = new FlowQueue({ maxSize: 1000, timeoutMs: 60_000 });
  const log: string[] = [];
  for (let i = 0; i < 50; i++) queue.enqueue(waiter(log, 'a', 'a'));
  for (let i = 0; i < 40; i++) queue.releaseNext();
  for (let i = 0; i < 5; i++) queue.enqueue(waiter(log, 'b', 'b'));
  log.length = 0;
  drain(queue);
  // b starts at the class's virtual time: its five requests alternate with a's remaining ten
  // rather than all going first (credit for being idle) or last (behind a's backlog).
  assert.deepEqual(log.slice(0, 10), ['b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a']);
  assert.equal(log.filter((l) => l === 'b').length, 5);
});

test('a full queue displaces the heavy consumer’s last waiter for a light consumer, and refuses a heavy newcomer', () => {
  const queue = new FlowQueue({ maxSize: 4, timeoutMs: 60_000 });
  const log: string[] = [];
  const heavy = [0, 1, 2, 3].map((i) => waiter(log, 'heavy', `h${i}`));
  for (const w of heavy) assert.ok(queue.enqueue(w));
  assert.equal(queue.enqueue(waiter(log, 'heavy', 'h4')), undefined, 'a fifth heavy request is refused at once');
  const light = waiter(log, 'light', 'l0');
  assert.ok(queue.enqueue(light), 'the light consumer gets a place');
  assert.equal(heavy[3]!.outcome, 'full', 'the heavy consumer’s last waiter made room');
  assert.equal(queue.size, 4);
  drain(queue);
  assert.deepEqual(log, ['h0', 'l0', 'h1', 'h2']);
  const stats = queue.flows();
  assert.equal(stats.get('heavy')!.refusedFull, 2);
  assert.equal(stats.get('light')!.released, 1);
});

test('a waiter past timeoutMs is refused with "timeout" and leaves the queue; a cancelled one leaves silently', async () => {
  const queue = new FlowQueue({ maxSize: 10, timeoutMs: 50 });
  const log: string[] = [];
  const late = waiter(log, 'a', 'late');
  queue.enqueue(late);
  const gone = waiter(log, 'b', 'gone');
  queue.enqueue(gone)!.cancel();
  assert.equal(queue.size, 1);
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(late.outcome, 'timeout');
  assert.equal(gone.outcome, undefined, 'a cancelled waiter is told nothing');
  assert.equal(queue.size, 0);
  assert.equal(queue.releaseNext(), false);
  assert.equal(queue.flows().get('b')!.cancelled, 1);
  assert.ok(queue.flows().get('a')!.waitSeconds >= 0.04);
});

test('a queue on an upstream whose targets have no maxConnections is refused, naming the target', async () => {
  const { validateConfig, ValidationError } = await import('../../spec/validate.js');
  const config = {
    upstreams: [{ name: 'gpus', targets: [{ url: 'http://127.0.0.1:9001', maxConnections: 4 }, { url: 'http://127.0.0.1:9002' }], queue: { maxSize: 10, timeoutMs: 1000 } }],
    routes: [],
    consumers: [],
  };
  assert.throws(
    () => validateConfig(config),
    (err: unknown) =>
      err instanceof ValidationError &&
      JSON.stringify(err.errors).includes('/upstreams/0/targets/1/maxConnections') &&
      JSON.stringify(err.errors).includes('required on every target'),
  );
  config.upstreams[0]!.targets[1]!.maxConnections = 4;
  assert.doesNotThrow(() => validateConfig(config));
});
