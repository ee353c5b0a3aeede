import { randomBytes } from 'node:crypto';

/** Short, sortable-enough, URL-safe ids: time prefix for humans, randomness for uniqueness. */
export function newId(): string {
  return Date.now().toString(36) + randomBytes(6).toString('base64url');
}
