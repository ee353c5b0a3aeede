import { spawn, type ChildProcess } from 'node:child_process';

/** flock(1)'s exit code when `--wait` ran out (chosen here; any code the command itself cannot give). */
const TIMED_OUT = 75;

let available: Promise<boolean> | undefined;

/**
 * Whether util-linux's flock(1) runs here (Debian, Alpine's busybox, most Linux images; not
 * macOS). Asked once per process, without blocking: the first commit may come from a node that
 * is serving traffic.
 */
export function kernelLockAvailable(): Promise<boolean> {
  available ??= new Promise((resolve) => {
    const probe = spawn('flock', ['--version'], { stdio: 'ignore' });
    probe.once('error', () => resolve(false));
    probe.once('exit', (code) => resolve(code === 0));
  });
  return available;
}

/** Ends the hold; resolves when the kernel lock is gone. */
export type KernelLockRelease = () => Promise<void>;

/**
 * An exclusive flock(2) on `path`, held by a flock(1) child until `release` — or until this
 * process dies however it dies, because the child's stdin is this process's pipe: at EOF the
 * child exits and the kernel drops the lock with its last descriptor. So there is no staleness
 * to judge and nothing to break: mutual exclusion is the kernel's, not a guess from an mtime
 * (which is what let two waiters both break a dead owner's directory lock, file-lock.ts). Node has
 * no flock binding and the native addons that add one need install scripts; a commit is rare
 * enough that a child process per hold (≈ 2-5 ms) costs nothing that matters. The child gets a
 * session of its own, so a Ctrl-C or SIGTERM sent to this process's group does not drop the
 * lock under a commit that is still writing.
 * Resolves `undefined` if the lock stayed taken for `timeoutMs`.
 */
export function holdKernelLock(path: string, timeoutMs: number): Promise<KernelLockRelease | undefined> {
  const seconds = Math.max(0.001, timeoutMs / 1000).toFixed(3);
  const child = spawn('flock', ['--exclusive', '--wait', seconds, '--conflict-exit-code', String(TIMED_OUT), path, 'sh', '-c', 'echo held; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  return new Promise((resolve, reject) => {
    let said = '';
    let errors = '';
    const onExit = (code: number | null) => {
      if (code === TIMED_OUT) resolve(undefined);
      else reject(new Error(`flock ${path} exited (${code ?? 'signal'}) before holding the lock: ${errors.trim() || 'no message'}`));
    };
    child.once('error', reject);
    child.stdin!.on('error', () => {}); // EPIPE if the child died first: ended() sees its exit
    child.stderr!.on('data', (d: Buffer) => (errors += d));
    child.once('exit', onExit);
    child.stdout!.on('data', (d: Buffer) => {
      said += d;
      if (!said.includes('held')) return;
      child.off('exit', onExit);
      child.stdout!.removeAllListeners('data');
      resolve(() => ended(child));
    });
  });
}

function ended(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.stdin!.end();
  });
}
