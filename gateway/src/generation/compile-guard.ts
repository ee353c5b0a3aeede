/**
 * Nothing a configuration revision holds may take a process down. Compiling a revision runs
 * code the revision chooses (stage registration, Fastify's and avvio's plugin loading), and not
 * all of its failures come back through the promise: Fastify's hook runner can throw from inside
 * avvio's queue (a RangeError on deep plugin trees), which surfaces as an uncaught exception, and
 * a queue left broken by it never settles ready() (fastify/fastify#6843). So a compile runs
 * contained: a rejection is its failure; an exception that escapes to the event loop while any
 * compile is running fails the running compiles instead of the process; and a compile that does
 * not settle within its time limit fails too (its half-built instance is abandoned).
 *
 * While a compile runs, an exception from anywhere else in the process is treated the same way
 * (it cannot be told apart); it is logged with its stack by the caller, as a compile failure.
 */

/** How long a compile may take before it is declared hung: generous, it grows with the routes. */
export function compileTimeLimitMs(routes: number): number {
  return 30_000 + routes * 5;
}

export class CompileTimeoutError extends Error {
  constructor(ms: number) {
    super(`compiling did not finish within ${ms} ms (Fastify's ready() never settled)`);
    this.name = 'CompileTimeoutError';
  }
}

const running = new Set<(err: unknown) => void>();

function trap(err: unknown): void {
  for (const fail of running) fail(err);
}

/** `abandon` disposes of what a compile that already failed (escaped, timed out) produces late. */
export async function containCompile<T>(compile: () => Promise<T>, timeLimitMs: number, abandon: (late: T) => void): Promise<T> {
  let fail!: (err: unknown) => void;
  const escaped = new Promise<never>((_resolve, reject) => (fail = reject));
  if (running.size === 0) process.on('uncaughtException', trap);
  running.add(fail);
  const timer = setTimeout(() => fail(new CompileTimeoutError(timeLimitMs)), timeLimitMs);
  try {
    // A synchronous throw from `compile` becomes a rejection like any other.
    const compiled = Promise.resolve().then(compile);
    let settled = false;
    compiled.then(
      (late) => settled && abandon(late),
      () => {},
    );
    try {
      return await Promise.race([compiled, escaped]);
    } catch (err) {
      settled = true;
      throw err;
    }
  } finally {
    clearTimeout(timer);
    running.delete(fail);
    if (running.size === 0) process.off('uncaughtException', trap);
  }
}
