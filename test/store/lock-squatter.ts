import { withFileLock } from '../../gateway/src/store/file-lock.js';

/** Child process for the lock test: takes the store's lock, says so, and holds it until it is killed. */
const [lockPath, staleMs] = process.argv.slice(2) as [string, string | undefined];
await withFileLock(lockPath, async () => {
  process.stdout.write('holding\n');
  await new Promise(() => {});
}, 60_000, staleMs ? Number(staleMs) : undefined);
