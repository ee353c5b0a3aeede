import { Type, type Static } from '@sinclair/typebox';
import { Name, StoredFields, TokenLimit } from './common.js';

export const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export const JwtCredential = Type.Object(
  {
    issuer: Type.String({ minLength: 1 }),
    algorithm: Type.Optional(Type.Union(JWT_ALGORITHMS.map((a) => Type.Literal(a)))),
    secret: Type.Optional(Type.String({ minLength: 16, description: 'HMAC secret (write-only).', writeOnly: true })),
    publicKey: Type.Optional(Type.String({ minLength: 1, description: 'PEM public key.' })),
    jwksUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
  },
  { additionalProperties: false },
);
export type JwtCredential = Static<typeof JwtCredential>;

/**
 * A partner's client certificate (auth "mtls" routes, TLS_CLIENT_CA_FILE): the SHA-256
 * fingerprint of the leaf (`AA:BB:…`, as openssl x509 -fingerprint -sha256 prints it), or its
 * subject as `C=US, O=Acme, CN=partner-1` (RDNs in certificate order, comma and space between).
 */
export const MtlsCredential = Type.Union([
  Type.Object({ fingerprint256: Type.String({ pattern: '^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$' }) }, { additionalProperties: false }),
  Type.Object({ subject: Type.String({ minLength: 3 }) }, { additionalProperties: false }),
]);
export type MtlsCredential = Static<typeof MtlsCredential>;

export const Consumer = Type.Object(
  {
    ...StoredFields,
    name: Name,
    rateLimit: Type.Optional(
      Type.Object(
        { max: Type.Integer({ minimum: 1 }), windowMs: Type.Integer({ minimum: 1, default: 60000 }) },
        { additionalProperties: false },
      ),
    ),
    quota: Type.Optional(
      Type.Object(
        { max: Type.Integer({ minimum: 1 }), period: Type.Union([Type.Literal('day'), Type.Literal('month')]) },
        { additionalProperties: false },
      ),
    ),
    tokenLimit: Type.Optional(TokenLimit),
    tokenQuota: Type.Optional(
      Type.Object(
        {
          max: Type.Integer({ minimum: 1, description: 'Tokens (prompt + completion) per UTC day or month, across every metered route.' }),
          period: Type.Union([Type.Literal('day'), Type.Literal('month')]),
        },
        { additionalProperties: false },
      ),
    ),
    weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: "Share of a saturated upstream's queue releases relative to other consumers of the same priority." })),
    priority: Type.Optional(Type.Integer({ minimum: -100, maximum: 100, default: 0, description: 'Queued requests of a higher priority are released first (strict).' })),
    routes: Type.Optional(Type.Array(Name, { uniqueItems: true })),
    jwt: Type.Optional(Type.Array(JwtCredential)),
    mtls: Type.Optional(Type.Array(MtlsCredential, { description: 'Client certificates that identify this consumer on auth "mtls" routes.' })),
    tags: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);
export type Consumer = Static<typeof Consumer>;

/** An API key as stored: only a hash of the secret, never the secret itself. */
export const ApiKeyRecord = Type.Object({
  id: Type.String(),
  consumer: Type.String({ description: 'Consumer id.' }),
  prefix: Type.String({ description: 'Readable, non-secret start of the key, e.g. sb_live_AbCd.' }),
  hash: Type.String({ description: 'HMAC-SHA256 of the key with the server pepper (never returned).' }),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Optional(Type.Union([Type.String({ format: 'date-time' }), Type.Null()])),
  revokedAt: Type.Optional(Type.String({ format: 'date-time' })),
  lastUsedAt: Type.Optional(Type.String({ format: 'date-time' })),
});
export type ApiKeyRecord = Static<typeof ApiKeyRecord>;
