import type { Certificate } from '../../../spec/certificate.js';
import type { Consumer } from '../../../spec/consumer.js';
import type { Stored, StoredUser } from '../store/port.js';

/**
 * What leaves the server. Secrets are write-only: a consumer's JWT HMAC secret, a user's
 * password hash, API-key hashes and the server's own secrets are never part of a view, so no
 * response, audit entry or export can carry them.
 */
export function consumerView(consumer: Stored<Consumer>): Stored<Consumer> {
  if (!consumer.jwt) return { ...consumer };
  return { ...consumer, jwt: consumer.jwt.map(({ secret: _secret, ...credential }) => credential) };
}

/** A certificate without its private key (write-only); `hasKey` says whether one is stored. */
export function certificateView(cert: Stored<Certificate>): Stored<Certificate> & { hasKey: boolean } {
  const { key, ...view } = cert;
  return { ...view, hasKey: key !== undefined };
}

export type UserView = Omit<StoredUser, 'passwordHash'>;

export function userView(user: StoredUser): UserView {
  const { passwordHash: _hash, ...view } = user;
  return view;
}

/** Field names that hold secrets wherever they appear (defence in depth for audit and history). */
const SECRET_FIELDS = new Set(['secret', 'password', 'passwordHash', 'hash', 'key', 'token', 'secrets', 'keys']);

/** A deep copy with every secret-named field removed. */
export function withoutSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => withoutSecrets(v)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (SECRET_FIELDS.has(k)) continue;
    out[k] = withoutSecrets(v);
  }
  return out as T;
}
