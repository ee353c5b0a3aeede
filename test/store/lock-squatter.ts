import { withFileLock } from '../../gateway/src/store/file-lock.js';

/** Child process for the lock test: takes the store's lock, says so, and holds it until it is killed. */
const [lockPath, staleMs] = process.argv.slice(2) as [string, string | undefined];
await withFileLock(lockPath, async () => {
  process.stdout.write('holding\n');
  // A pending promise alone does not keep a process alive (the lock's refresh timer is unref'd):
  // an interval does, so the owner really holds the lock until it is killed.
  await new Promise(() => setInterval(() => {}, 1 << 30));
}, 60_000, staleMs ? Number(staleMs) : undefined);
