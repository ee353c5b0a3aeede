import type { IncomingHttpHeaders } from 'node:http';

/** The size a request declares for its body (`content-length`); 0 when it declares none. */
export function declaredLength(headers: IncomingHttpHeaders): number {
  return Number(headers['content-length'] ?? 0);
}

/**
 * The detail of the 413 `body-too-large` every lane, selector and body parser answers: one
 * wording, with the size when it is known (declared, or read so far).
 */
export function bodyTooLargeDetail(length: number | undefined, limit: number): string {
  return length === undefined ? `request body exceeds the route's limit of ${limit} bytes` : `request body of ${length} bytes exceeds the route's limit of ${limit} bytes`;
}
