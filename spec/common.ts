import { Type, type Static } from '@sinclair/typebox';

/** Names are used in URLs and in references between items, so keep them URL-safe. */
export const Name = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'Unique, URL-safe name (letters, digits, ".", "_", "-").',
});

/** Fields every stored item carries; set by the store, ignored when a client sends them. */
export const StoredFields = {
  id: Type.Optional(Type.String({ description: 'Store-assigned identifier.' })),
  version: Type.Optional(Type.Integer({ minimum: 1, description: 'Optimistic-concurrency version; served as the ETag.' })),
  createdAt: Type.Optional(Type.String({ format: 'date-time' })),
  updatedAt: Type.Optional(Type.String({ format: 'date-time' })),
};

export const RateLimit = Type.Object(
  {
    max: Type.Integer({ minimum: 1, description: 'Requests allowed per window.' }),
    windowMs: Type.Integer({ minimum: 1, default: 60000 }),
    by: Type.Optional(Type.Union([Type.Literal('consumer'), Type.Literal('ip')], { default: 'consumer' })),
  },
  { additionalProperties: false },
);
export type RateLimit = Static<typeof RateLimit>;

/** Tokens (prompt + completion, as the worker's `usage` reports them) per fixed window. */
export const TokenLimit = Type.Object(
  {
    max: Type.Integer({ minimum: 1, description: 'Tokens (prompt + completion) allowed per window; requests are admitted while any are left.' }),
    windowMs: Type.Integer({ minimum: 1000, default: 60000 }),
  },
  { additionalProperties: false },
);
export type TokenLimit = Static<typeof TokenLimit>;

export const Milliseconds = (def: number, description?: string) =>
  Type.Integer({ minimum: 0, default: def, ...(description ? { description } : {}) });
