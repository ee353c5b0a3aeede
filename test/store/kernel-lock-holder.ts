import { holdKernelLock } from '../../gateway/src/store/kernel-lock.js';

/** Child process for the lock test: takes the kernel lock on a path, says so, and holds it until it is killed. */
const [path] = process.argv.slice(2) as [string];
const release = await holdKernelLock(path, 10_000);
if (!release) throw new Error(`could not take ${path}`);
process.stdout.write('holding\n');
setInterval(() => {}, 1 << 30);
