import { rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { holdKernelLock, kernelLockAvailable } from './kernel-lock.js';

/**
 * How long a lock may go untouched before another process may break it. Its owner touches it
 * every quarter of that while it holds it, so only an owner that is dead (kill -9) or stalled
 * this long loses it; after a crash the next writer waits at most this long.
 */
export const LOCK_STALE_MS = 5_000;

/** The lock was broken or replaced before the write it protects: nothing was written; try again. */
export class LockLostError extends Error {
  override name = 'LockLostError';
}

/** The lock stayed taken for the whole timeout. */
export class LockTimeoutError extends Error {
  override name = 'LockTimeoutError';
}

/** Rejects with LockLostError if the lock was lost meanwhile; awaited right before the write it protects. */
export type LockGuard = () => Promise<void>;

/**
 * A cross-process lock, so two gateway processes sharing one embedded store never interleave
 * read-modify-write cycles. Two locks, taken in this order:
 * 1. A kernel lock, flock(2) on `<lockPath>.flock` (kernel-lock.ts), wherever flock(1) runs. The
 *    kernel drops it when its holder dies, so nobody ever judges it stale or breaks it, and two
 *    holders at once are impossible.
 * 2. proper-lockfile's directory at `lockPath`: made with mkdir, its mtime refreshed by its owner,
 *    broken by a waiter once it is `staleMs` old. It is what an older Switchboard (and a machine
 *    without flock(1), such as macOS) takes, so a node of this version and one of the last still
 *    exclude each other while a fleet upgrades. On its own it is not enough: its break is stat,
 *    rmdir, mkdir, and two waiters breaking the same dead owner's lock at once could both end up
 *    holding it — one lost commit in about fifteen runs of five writers behind a dead owner
 *    (test/store/file-lock.test.ts). Behind the kernel lock only one waiter at a time reaches it.
 * An owner whose directory lock was nevertheless broken or replaced (by an older node, or where
 * there is no kernel lock) learns it from `guard` before it writes, and writes nothing:
 * proper-lockfile reports a lock it failed to refresh in time, and the guard also checks that the
 * directory at the lock path is still the one this owner took.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: (guard: LockGuard) => Promise<T>,
  timeoutMs = 10_000,
  staleMs = LOCK_STALE_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const releaseKernel = (await kernelLockAvailable()) ? await holdKernelLock(`${lockPath}.flock`, timeoutMs) : async () => {};
  if (!releaseKernel) throw new LockTimeoutError(`could not lock ${lockPath}.flock within ${timeoutMs} ms`);
  try {
    return await withDirectoryLock(lockPath, fn, deadline, timeoutMs, staleMs);
  } finally {
    await releaseKernel();
  }
}

async function withDirectoryLock<T>(lockPath: string, fn: (guard: LockGuard) => Promise<T>, deadline: number, timeoutMs: number, staleMs: number): Promise<T> {
  let lost: Error | undefined;
  let release: () => Promise<void>;
  let delay = 2;
  for (;;) {
    try {
      release = await lockfile.lock(lockPath, {
        lockfilePath: lockPath,
        realpath: false,
        stale: staleMs,
        update: Math.max(1000, Math.floor(staleMs / 4)),
        retries: 0,
        onCompromised: (err) => void (lost = err),
      });
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A stale lock *file* left by an older version (it used O_EXCL files at the same path).
      if (code === 'ENOTDIR') {
        await rm(lockPath, { force: true });
        continue;
      }
      // ENOENT: proper-lockfile made the lock directory, then found it gone when it probed its
      // mtime — another waiter, breaking the same dead owner's stale lock, removed it. Nothing is
      // held; wait like for any taken lock (seen with four owners killed -9 under load).
      if (code !== 'ELOCKED' && code !== 'ENOENT') throw err;
      if (Date.now() > deadline) throw new LockTimeoutError(`could not lock ${lockPath} within ${timeoutMs} ms`);
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
  }
  // Which directory is ours: a waiter that broke in would have made another.
  const mine = await stat(lockPath).catch(() => undefined);
  const guard: LockGuard = async () => {
    if (lost) throw new LockLostError(`lost the lock ${lockPath} before writing (${lost.message}); nothing was written`);
    const now = await stat(lockPath).catch(() => undefined);
    if (!mine || !now || now.ino !== mine.ino || now.birthtimeMs !== mine.birthtimeMs)
      throw new LockLostError(`lost the lock ${lockPath} before writing (another process replaced it); nothing was written`);
  };
  try {
    return await fn(guard);
  } finally {
    await release().catch(() => {});
  }
}
