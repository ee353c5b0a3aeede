/**
 * The store's typed refusals beside port.ts's conflict and outage errors. Each has one admin
 * answer (admin/problem-handler.ts) and one operator remedy in its message.
 */

/**
 * The store URL or the deployment behind it cannot work (a standalone mongod, a
 * directConnection to a secondary, a store written by a newer build). Thrown by `open()`, so
 * the process says so at start instead of answering 503 forever.
 */
export class StoreConfigurationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConfigurationError';
  }
}

/**
 * A commit was sent but the store could not confirm whether it applied (the primary was lost
 * between the commit and its acknowledgement, and it could not be asked afterwards). The
 * change may be in force: read the configuration before trying again.
 */
export class CommitOutcomeUnknownError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CommitOutcomeUnknownError';
  }
}

/** One item is larger than the store can hold in one document (MongoDB: 16 MiB of BSON). */
export class StoreItemTooLargeError extends Error {
  constructor(
    readonly kind: string,
    readonly item: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`${kind} "${item}" is ${(bytes / 2 ** 20).toFixed(1)} MiB stored, over the store's limit of ${(limit / 2 ** 20).toFixed(1)} MiB per item`);
    this.name = 'StoreItemTooLargeError';
  }
}

/** A unique index refused a write the service's own checks let through (e.g. two names differing only where the index folds them). */
export class StoreDuplicateError extends Error {
  constructor(
    readonly kind: string,
    readonly key: string,
  ) {
    super(`another item in ${kind} already has ${key}`);
    this.name = 'StoreDuplicateError';
  }
}
