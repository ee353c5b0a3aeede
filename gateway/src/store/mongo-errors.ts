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
