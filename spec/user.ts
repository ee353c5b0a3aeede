import { Type, type Static } from '@sinclair/typebox';
import { StoredFields } from './common.js';

export const ROLES = ['admin', 'editor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export const User = Type.Object(
  {
    ...StoredFields,
    email: Type.String({ minLength: 3, maxLength: 254, pattern: '^[^@\\s]+@[^@\\s]+$', description: 'Login and unique name.' }),
    role: Type.Union(ROLES.map((r) => Type.Literal(r)), { default: 'viewer' }),
    password: Type.Optional(Type.String({ minLength: 8, writeOnly: true, description: 'Write-only; stored as scrypt hash.' })),
  },
  { additionalProperties: false },
);
export type User = Static<typeof User>;
