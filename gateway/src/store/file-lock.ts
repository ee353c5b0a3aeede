import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
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
 * An owner that dies holding both (kill -9 mid-commit) would cost the next writer the directory
 * lock's staleness. So a holder of the kernel lock also leaves a note beside the directory,
 * `<lockPath>.owner`: its pid, its host, and which directory it made. A waiter that holds the
 * kernel lock and finds a directory lock the note describes, whose owner is not running on this
 * host, breaks it at once: that owner held the kernel lock, which is now the waiter's, so it is
 * gone (its pid checked too, because its flock(1) child could have died without it). Anything
 * else — no note, another host, a live pid, a directory the note does not describe — waits for
 * staleness as before.
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
  const behindKernel = await kernelLockAvailable();
  const releaseKernel = behindKernel ? await holdKernelLock(`${lockPath}.flock`, timeoutMs) : async () => {};
  if (!releaseKernel) throw new LockTimeoutError(`could not lock ${lockPath}.flock within ${timeoutMs} ms`);
  try {
    return await withDirectoryLock(lockPath, fn, deadline, timeoutMs, staleMs, behindKernel);
  } finally {
    await releaseKernel();
  }
}

async function withDirectoryLock<T>(
  lockPath: string,
  fn: (guard: LockGuard) => Promise<T>,
  deadline: number,
  timeoutMs: number,
  staleMs: number,
  behindKernel: boolean,
): Promise<T> {
  const notePath = `${lockPath}.owner`;
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
      if (behindKernel && code === 'ELOCKED' && (await brokeDeadOwners(lockPath, notePath))) continue;
      if (Date.now() > deadline) throw new LockTimeoutError(`could not lock ${lockPath} within ${timeoutMs} ms`);
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
  }
  // Which directory is ours: a waiter that broke in would have made another.
  const mine = await stat(lockPath).catch(() => undefined);
  const noted = behindKernel && mine !== undefined && (await writeNote(notePath, mine));
  const guard: LockGuard = async () => {
    if (lost) throw new LockLostError(`lost the lock ${lockPath} before writing (${lost.message}); nothing was written`);
    const now = await stat(lockPath).catch(() => undefined);
    if (!mine || !now || now.ino !== mine.ino || now.birthtimeMs !== mine.birthtimeMs)
      throw new LockLostError(`lost the lock ${lockPath} before writing (another process replaced it); nothing was written`);
  };
  try {
    return await fn(guard);
  } finally {
    // The note goes first: a directory without one is only ever judged by its staleness.
    if (noted) await rm(notePath, { force: true }).catch(() => {});
    await release().catch(() => {});
  }
}

/** What `<lockPath>.owner` says: who made the directory lock, and which directory it is. */
interface OwnerNote {
  pid: number;
  host: string;
  ino: number;
  birthtimeMs: number;
}

async function writeNote(notePath: string, mine: { ino: number; birthtimeMs: number }): Promise<boolean> {
  const note: OwnerNote = { pid: process.pid, host: hostname(), ino: mine.ino, birthtimeMs: mine.birthtimeMs };
  return writeFile(notePath, JSON.stringify(note)).then(
    () => true,
    () => false,
  );
}

/**
 * Called by a waiter holding the kernel lock: removes the directory lock if its note names it and
 * its owner is not running here, and says whether it did. An unreadable or torn note is no note.
 */
async function brokeDeadOwners(lockPath: string, notePath: string): Promise<boolean> {
  let note: OwnerNote;
  try {
    note = JSON.parse(await readFile(notePath, 'utf8')) as OwnerNote;
  } catch {
    return false;
  }
  const held = await stat(lockPath).catch(() => undefined);
  if (!held || held.ino !== note.ino || held.birthtimeMs !== note.birthtimeMs) return false;
  if (note.host !== hostname() || note.pid === process.pid || running(note.pid)) return false;
  await rm(lockPath, { recursive: true, force: true });
  await rm(notePath, { force: true });
  return true;
}

/** Whether a process with this pid runs (EPERM: it does, as another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
