import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { withFileLock } from '../../gateway/src/store/file-lock.js';
import { holdKernelLock } from '../../gateway/src/store/kernel-lock.js';
import { FileStore } from '../../gateway/src/store/file-store.js';

const WRITER = fileURLToPath(new URL('./commit-writer.js', import.meta.url));
const SQUATTER = fileURLToPath(new URL('./lock-squatter.js', import.meta.url));
const KERNEL_HOLDER = fileURLToPath(new URL('./kernel-lock-holder.js', import.meta.url));
/** Short staleness for the test (the store's default is longer): a dead owner's lock is broken this soon. */
const STALE_MS = 2000;

function exited(child: ChildProcess): Promise<number | null> {
  return child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

function said(child: ChildProcess, word: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes(word)) resolve();
    });
    child.once('exit', (code) => (out.includes(word) ? resolve() : reject(new Error(`child exited (${code}) before saying "${word}"`))));
  });
}

test('writers in several processes commit concurrently through the lock, while lock owners die holding it, and no commit is lost', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'switchboard.json');
  const WRITERS = 5;
  const COMMITS = 30;

  const writers = Array.from({ length: WRITERS }, (_, n) =>
    spawn(process.execPath, [WRITER, path, `w${n}`, String(COMMITS), String(STALE_MS)], { stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  const finished = writers.map((w) => said(w, 'done'));
  const codes = Promise.all(writers.map(exited));

  // Meanwhile, owners that die holding the lock (kill -9): every writer then waits on a stale lock
  // at once, which is exactly when two of them could both break it and both think they own it.
  let squatters = 0;
  let running = true;
  void codes.then(() => (running = false));
  while (running && squatters < 4) {
    const squatter = spawn(process.execPath, [SQUATTER, `${path}.lock`, String(STALE_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const holding = await Promise.race([said(squatter, 'holding').then(() => true), codes.then(() => false)]);
    if (holding) {
      squatters++;
      await sleep(30);
    }
    squatter.kill('SIGKILL');
    await exited(squatter);
  }
  // Not asserted: 150 commits can finish before a squatter gets the lock (seen in CI). A squatter
  // that takes the lock before the writers start makes every writer break its stale lock at once,
  // and that loses a commit about once in 15 runs: the gap README "Known gaps" describes.
  t.diagnostic(`${squatters} lock owners died holding the lock while the writers ran`);
  await Promise.all(finished);
  assert.deepEqual(await codes, Array(WRITERS).fill(0), 'every writer finished');

  const doc = JSON.parse(await readFile(path, 'utf8')) as { state: { revision: number }; audit: Array<{ id: string; revision: number }> };
  assert.equal(doc.state.revision, WRITERS * COMMITS, 'one revision per commit');
  const ids = new Set(doc.audit.map((a) => a.id));
  for (let n = 0; n < WRITERS; n++) for (let i = 0; i < COMMITS; i++) assert.ok(ids.has(`w${n}/${i}`), `commit w${n}/${i} is in the audit`);
  assert.equal(doc.audit.length, WRITERS * COMMITS);
  assert.equal(new Set(doc.audit.map((a) => a.revision)).size, WRITERS * COMMITS, 'every commit has a revision of its own');

  // And the store is usable afterwards.
  const store = new FileStore(path);
  await store.open();
  const state = await store.read();
  await store.commit(state, { expectedRevision: state.revision, audit: [], keepRevision: false, actor: 'test', action: 'after' });
  await store.close();
});

test('a live owner keeps the lock however long it holds it: nobody breaks a lock whose owner is alive', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const lockPath = join(dir, 'store.json.lock');
  let inside = 0;
  let overlapped = false;
  const hold = (ms: number) =>
    withFileLock(lockPath, async () => {
      inside++;
      if (inside > 1) overlapped = true;
      await sleep(ms);
      inside--;
    }, 20_000, STALE_MS);
  // The first holds for twice the staleness; the second must wait for it, not break in.
  const first = hold(2 * STALE_MS + 500);
  await sleep(100);
  const started = Date.now();
  await Promise.all([first, hold(10)]);
  assert.equal(overlapped, false, 'two holders at once');
  assert.ok(Date.now() - started >= 2 * STALE_MS, 'the second waited for the first');
});

test('waiters that all find a dead owner\'s stale lock at once: only one of them holds it at a time', async (t) => {
  // The race proper-lockfile alone loses: its break is stat, rmdir, mkdir, so a later waiter's
  // rmdir can remove the directory an earlier one has just made, and both pass their guard.
  // Before the kernel lock, 3 of these 60 rounds (5 of 40 in a first probe) had two holders writing at once.
  const dir = await mkdtemp(join(tmpdir(), 'sb-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let doubled = 0;
  for (let round = 0; round < 60; round++) {
    const lockPath = join(dir, `r${round}.json.lock`);
    await mkdir(lockPath); // a dead owner's lock, untouched for 10 s
    const old = new Date(Date.now() - 10_000);
    await utimes(lockPath, old, old);
    let writing = 0;
    let overlapped = false;
    await Promise.all(
      Array.from({ length: 8 }, () =>
        withFileLock(lockPath, async (guard) => {
          await sleep(1);
          await guard(); // a holder that passes its guard would write
          writing++;
          if (writing > 1) overlapped = true;
          await sleep(3);
          writing--;
        }, 20_000, 1000),
      ),
    );
    if (overlapped) doubled++;
  }
  assert.equal(doubled, 0, `rounds in which two waiters both held the lock and passed their guard: ${doubled} of 60`);
});

test('the kernel lock: nobody gets it while its holder lives, even frozen, and it is free the moment the holder is killed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'store.json.lock.flock');
  const holder = spawn(process.execPath, [KERNEL_HOLDER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => holder.kill('SIGKILL'));
  await said(holder, 'holding');
  holder.kill('SIGSTOP');
  assert.equal(await holdKernelLock(path, 300), undefined, 'taken while its frozen holder lives');
  holder.kill('SIGKILL');
  await exited(holder);
  const started = Date.now();
  const release = await holdKernelLock(path, 5000);
  assert.ok(release, 'free once its holder is dead');
  assert.ok(Date.now() - started < 1000, `no staleness to wait out (${Date.now() - started} ms)`);
  await release();
  const again = await holdKernelLock(path, 1000);
  assert.ok(again, 'free again after release');
  await again();
});

test('an owner killed -9 while it holds the lock costs the next writer no staleness wait: behind the kernel lock, a dead owner\'s directory lock is broken at once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const lockPath = join(dir, 'store.json.lock');
  const owner = spawn(process.execPath, [SQUATTER, lockPath, '5000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => owner.kill('SIGKILL'));
  await said(owner, 'holding');
  owner.kill('SIGKILL');
  await exited(owner);
  const started = Date.now();
  await withFileLock(lockPath, async (guard) => guard(), 20_000, 5000);
  const waited = Date.now() - started;
  assert.ok(waited < 1000, `waited ${waited} ms for a dead owner's lock (its staleness is 5 000 ms)`);
});

test('an owner that lives keeps its directory lock even if its kernel lock is gone: only a dead owner\'s lock is broken early', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sb-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const lockPath = join(dir, 'store.json.lock');
  const owner = spawn(process.execPath, [SQUATTER, lockPath, String(STALE_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => owner.kill('SIGKILL'));
  await said(owner, 'holding');
  // Its flock(1) child dies (an OOM kill, a `pkill flock`), the owner does not.
  const flock = spawn('pkill', ['-KILL', '-f', `flock --exclusive .* ${lockPath}.flock`]);
  assert.equal(await exited(flock), 0, 'the owner\'s flock(1) child was found');
  await assert.rejects(
    withFileLock(lockPath, async () => {}, 2 * STALE_MS, STALE_MS),
    (err: Error) => err.name === 'LockTimeoutError',
    'a live owner\'s directory lock is not broken',
  );
});
