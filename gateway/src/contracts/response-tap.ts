/**
 * Something a route's stage hangs on the proxied answer (token metering): it sees the answer's
 * head and every body chunk on the way to the client, and may hold back or drop bytes of its
 * own making (a usage-only SSE event the gateway asked for). It must never make the client wait
 * for bytes it could already have: what `data` returns goes out at once.
 */
export interface ResponseTap {
  /** The upstream's status and headers, before anything is written to the client. */
  started(status: number, headers: Record<string, string | string[] | undefined>): void;
  /** A body chunk; returns the bytes to write to the client now (the chunk itself when nothing is removed). */
  data(chunk: Buffer): Buffer;
  /** The body ended; returns bytes still held back, to write before the end. */
  ended(): Buffer | undefined;
  /** The exchange ended without a whole answer (cut, client gone, failed). */
  aborted(): void;
}
