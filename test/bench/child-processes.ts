import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Every process the bench starts runs in its own process group (`detached`), so one signal to
 * the group reaches nginx's workers, haproxy's threads and anything a child forks. Groups are
 * remembered here until they exit; whatever is still alive when the bench exits — normally, on
 * an error or on Ctrl-C — is killed with SIGKILL, so no nginx or haproxy outlives a run.
 */

const OUTPUT_TAIL_BYTES = 16 * 1024;

export interface ChildOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Keep all of stdout (loaders print their results there); otherwise only a tail is kept. */
  keepStdout?: boolean;
}

export interface Child {
  readonly name: string;
  /** Also the process group id, since every child leads its own group. */
  readonly pid: number;
  readonly exited: Promise<number | null>;
  hasExited(): boolean;
  stdout(): string;
  /** The last lines of stdout and stderr, for error messages. */
  outputTail(): string;
  /** SIGTERM to the group, SIGKILL after `graceMs` if it is still there. */
  stop(graceMs?: number): Promise<void>;
}

const liveGroups = new Map<number, string>();

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

export function startChild(name: string, command: string, args: string[], options: ChildOptions = {}): Child {
  const child: ChildProcess = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let tail = '';
  const appendTail = (chunk: Buffer): void => {
    tail = (tail + chunk.toString()).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    if (options.keepStdout) stdout += chunk.toString();
    appendTail(chunk);
  });
  child.stderr?.on('data', appendTail);

  let done = false;
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (error) => {
      appendTail(Buffer.from(`\n${error.message}\n`));
      done = true;
      resolve(null);
    });
    child.once('exit', (code, signal) => {
      done = true;
      // A leader's exit does not end its group (nginx's worker may linger a moment): kill the
      // rest now so nothing keeps a port.
      if (child.pid !== undefined) {
        signalGroup(child.pid, 'SIGKILL');
        liveGroups.delete(child.pid);
      }
      resolve(code ?? (signal ? 128 : null));
    });
  });

  if (child.pid === undefined) {
    // spawn failed (ENOENT…); 'error' fires right after, so `exited` settles.
    return {
      name,
      pid: -1,
      exited,
      hasExited: () => done,
      stdout: () => stdout,
      outputTail: () => tail,
      stop: async () => {
        await exited;
      },
    };
  }
  const pid = child.pid;
  liveGroups.set(pid, name);

  return {
    name,
    pid,
    exited,
    hasExited: () => done,
    stdout: () => stdout,
    outputTail: () => tail.trim().split('\n').slice(-12).join('\n'),
    async stop(graceMs = 3000) {
      if (!done) {
        signalGroup(pid, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      signalGroup(pid, 'SIGKILL');
      liveGroups.delete(pid);
    },
  };
}

export interface Completed {
  code: number | null;
  stdout: string;
  output: string;
  timedOut: boolean;
}

/** Runs a command to its end (a loader, `switchboard import`), killed if it overruns `timeoutMs`. */
export async function runToCompletion(
  name: string,
  command: string,
  args: string[],
  timeoutMs: number,
  options: Omit<ChildOptions, 'keepStdout'> = {},
): Promise<Completed> {
  const child = startChild(name, command, args, { ...options, keepStdout: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void child.stop(1000);
  }, timeoutMs);
  const code = await child.exited;
  clearTimeout(timer);
  return { code, stdout: child.stdout(), output: child.outputTail(), timedOut };
}

/** Wait for `child` to be ready; if it never is, stop it before passing the failure on. */
export async function readyOrStop(child: Child, ready: () => Promise<unknown>): Promise<void> {
  try {
    await ready();
  } catch (error) {
    await child.stop();
    throw error;
  }
}

export function killAllChildrenNow(): void {
  for (const pgid of liveGroups.keys()) signalGroup(pgid, 'SIGKILL');
  liveGroups.clear();
}

let cleanupInstalled = false;

/** Kill every child on exit, on SIGINT/SIGTERM/SIGHUP and on a crash of the bench itself. */
export function installChildCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllChildrenNow);
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping ${liveGroups.size} child process group(s)\n`);
      killAllChildrenNow();
      process.exit(code);
    });
  }
  process.on('uncaughtException', (error) => {
    process.stderr.write(`bench: ${error.stack ?? error.message}\n`);
    killAllChildrenNow();
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(`bench: unhandled rejection: ${String(reason)}\n`);
    killAllChildrenNow();
    process.exit(1);
  });
}

/** A hard stop for the whole run: a hung child must never keep the bench (or a CI job) alive. */
export function armWatchdog(limitMs: number): void {
  const timer = setTimeout(() => {
    process.stderr.write(`bench: exceeded its time limit of ${Math.round(limitMs / 1000)} s, killing everything\n`);
    killAllChildrenNow();
    process.exit(1);
  }, limitMs);
  timer.unref();
}
