import { rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';

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
 * read-modify-write cycles. It is proper-lockfile's: a directory made with mkdir (atomic on
 * local file systems) whose mtime the owner refreshes while it holds it. Staleness is decided by
 * that mtime alone, never by deleting a lock whose owner merely looks dead or old — the
 * pid-and-age check this replaces let a waiter delete the lock another waiter had just taken,
 * and broke a live owner's lock after 30 s. An owner whose lock was nevertheless broken or
 * replaced learns it from `guard` before it writes, and writes nothing: proper-lockfile reports
 * a lock it failed to refresh in time, and the guard also checks that the directory at the lock
 * path is still the one this owner took. What this does not rule out: two waiters breaking the
 * same dead owner's stale lock at the same instant. proper-lockfile's break is stat, rmdir,
 * mkdir; the later waiter's rmdir can remove the earlier one's fresh directory, and if that
 * happens before the earlier one reads its directory's identity below, both hold "the" lock and
 * both guards pass. With five writers all waiting on a dead owner's lock, that lost one commit
 * in about fifteen runs of test/store/file-lock.test.ts's scenario (README "Known gaps"). Closing
 * it needs the break itself serialized (a second lock around stat-rmdir, or a commit fenced by an
 * exclusive per-revision link), which proper-lockfile does not offer.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: (guard: LockGuard) => Promise<T>,
  timeoutMs = 10_000,
  staleMs = LOCK_STALE_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
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
