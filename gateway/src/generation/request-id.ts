import { randomBytes } from 'node:crypto';

// A random per-process prefix plus a counter: unique across nodes, and far cheaper per request
// than a fresh UUID.
const prefix = randomBytes(6).toString('hex');
let counter = 0;

export function newRequestId(): string {
  counter = (counter + 1) >>> 0;
  return `${prefix}-${counter.toString(36)}`;
}
