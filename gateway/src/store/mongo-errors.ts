import {
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoError,
  MongoErrorLabel,
} from 'mongodb';
import { StoreUnavailableError } from './port.js';

/**
 * Errors that mean "the database is not reachable right now" (as opposed to a bug or a refused
 * write): the admin API answers them with 503 and the gateway keeps its configuration. The driver
 * reconnects on its own; the next call after that succeeds.
 */
export function isUnavailable(err: unknown): boolean {
  if (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoNotConnectedError ||
    err instanceof MongoTopologyClosedError ||
    err instanceof MongoOperationTimeoutError
  )
    return true;
  if (err instanceof MongoError) {
    if (err.hasErrorLabel(MongoErrorLabel.RetryableWriteError) || err.hasErrorLabel(MongoErrorLabel.TransientTransactionError)) return true;
    // NotWritablePrimary, PrimarySteppedDown, InterruptedAtShutdown, ShutdownInProgress, …: an election is under way.
    const code = Number((err as { code?: unknown }).code);
    if ([91, 189, 10107, 11600, 11602, 13435, 13436].includes(code)) return true;
  }
  return false;
}

export async function guardUnavailable<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isUnavailable(err)) throw new StoreUnavailableError(`MongoDB unavailable during ${what}: ${(err as Error).message}`, { cause: err });
    throw err;
  }
}

/** E11000: a unique index refused the write (the error names the index and the key value). */
export function duplicateKeyOf(err: unknown): { collection: string; index: string; key: string } | undefined {
  if (!(err instanceof MongoError) || Number((err as { code?: unknown }).code) !== 11000) return undefined;
  const keyValue = (err as { keyValue?: Record<string, unknown> }).keyValue;
  const index = /index: (\S+)/.exec(err.message)?.[1] ?? 'a unique index';
  const key = keyValue ? Object.entries(keyValue).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(', ') : (/dup key: \{ (.*) \}/.exec(err.message)?.[1] ?? index);
  // "E11000 duplicate key error collection: switchboard.routes index: unique_name dup key: { name: "a" }"
  const collection = /collection: [^.\s]+\.(\S+)/.exec(err.message)?.[1] ?? 'configuration';
  return { collection, index, key };
}

/**
 * A transaction error that proves nothing was applied: the driver labels it transient (the
 * whole transaction may be retried because none of it committed).
 */
export function provesNotApplied(err: unknown): boolean {
  return err instanceof MongoError && err.hasErrorLabel(MongoErrorLabel.TransientTransactionError);
}
