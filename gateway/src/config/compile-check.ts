import { ProblemError } from '../errors.js';
import type { ConfigState } from '../store/port.js';

/** Compile a state as a node would; throws why it does not. */
export type CompileCheck = (state: ConfigState) => Promise<void>;

/**
 * Run the dry compile; its failure becomes a 400 naming the cause (and the route's field when the
 * compiler could tell), so a revision every node would fail on is never stored.
 */
export async function mustCompile(compiles: CompileCheck, state: ConfigState): Promise<void> {
  try {
    await compiles(state);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const field = (err as { field?: unknown }).field;
    throw new ProblemError(400, 'validation', `the configuration does not compile: ${message}`, {
      errors: [{ path: typeof field === 'string' ? field : '/', message }],
    });
  }
}
