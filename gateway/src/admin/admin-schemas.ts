import { Type, type TSchema } from '@sinclair/typebox';
import { Certificate } from '../../../spec/certificate.js';
import { Consumer } from '../../../spec/consumer.js';
import { Stream } from '../../../spec/stream.js';
import { Route } from '../../../spec/route.js';
import { Upstream } from '../../../spec/upstream.js';
import { ROLES, User } from '../../../spec/user.js';

/** Schemas of the admin API's own messages (the items' schemas come from spec/). */

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { additionalProperties: true, description: 'RFC 9457 problem details (application/problem+json).' },
);

export const ItemRef = Type.Object({ id: Type.String({ description: 'The item id or its unique name (users: email).' }) });

export const LoginBody = Type.Object(
  { email: Type.String({ minLength: 1, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 1024, writeOnly: true }) },
  { additionalProperties: false },
);

export const LoginResponse = Type.Object({
  token: Type.String({ description: 'Send as Authorization: Bearer <token>.' }),
  expiresIn: Type.Integer({ description: 'Seconds until the token expires.' }),
  tokenType: Type.Literal('Bearer'),
});

export const Principal = Type.Object({ id: Type.String(), email: Type.String(), role: Type.Union(ROLES.map((r) => Type.Literal(r))) });

export const Paging = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,5}$', description: 'At most this many entries (default 100).' })),
  offset: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$' })),
});

export const AuditEntrySchema = Type.Object(
  {
    at: Type.String({ format: 'date-time' }),
    actor: Type.String(),
    action: Type.String(),
    kind: Type.String(),
    id: Type.Union([Type.String(), Type.Null()]),
    before: Type.Unknown(),
    after: Type.Unknown(),
    revision: Type.Integer(),
  },
  { additionalProperties: true },
);

export const RevisionSummary = Type.Object({
  revision: Type.Integer(),
  at: Type.String(),
  actor: Type.String(),
  action: Type.String(),
  counts: Type.Object({ upstreams: Type.Integer(), routes: Type.Integer(), consumers: Type.Integer() }),
});

export const RevisionNumber = Type.Object({ n: Type.String({ pattern: '^[0-9]{1,12}$' }) });

export const NewRevision = Type.Object({ revision: Type.Integer() });

export const TargetHealthSchema = Type.Object(
  {
    url: Type.String(),
    state: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy'), Type.Literal('draining')]),
    inFlight: Type.Integer(),
    latencyMs: Type.Number({ description: 'Smoothed (EWMA) latency.' }),
    lastCheck: Type.Unknown(),
  },
  { additionalProperties: true },
);

export const DrainBody = Type.Object(
  {
    url: Type.String({ description: 'The target URL as configured.' }),
    draining: Type.Boolean({ default: true }),
    scope: Type.Union([Type.Literal('cluster'), Type.Literal('node')], {
      default: 'cluster',
      description:
        'cluster: set the target\'s `draining` flag in the configuration (audited, every node, survives restarts); node: only this gateway process, until it restarts.',
    }),
  },
  { additionalProperties: false },
);

/** Item schemas as answered: the spec schema (secrets are write-only and never served). */
export const ITEM_SCHEMAS = { upstreams: Upstream, routes: Route, consumers: Consumer, certificates: Certificate, streams: Stream, users: User } as const;

/**
 * What the API answers with, where it differs from what it takes: a certificate's view has no
 * key (write-only) and says whether one is stored. The answer is serialized through this schema,
 * so a field missing here never reaches the client.
 */
export const VIEW_SCHEMAS: { [K in keyof typeof ITEM_SCHEMAS]: TSchema } = {
  ...ITEM_SCHEMAS,
  certificates: Type.Object(
    { ...Certificate.properties, hasKey: Type.Boolean({ description: 'Whether a private key is stored (the key itself is never returned).' }) },
    { additionalProperties: false },
  ),
};

export const ValidateResponse = (item: typeof Upstream | typeof Route) => Type.Object({ valid: Type.Literal(true), item });
