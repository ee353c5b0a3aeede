import { Type, type Static } from '@sinclair/typebox';
import { RouteInferenceFields } from './route-inference.js';
import { Name, RateLimit, StoredFields, TokenLimit } from './common.js';

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export const AUTH_MODES = ['none', 'api-key', 'jwt', 'api-key-or-jwt', 'mtls'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

const JsonSchema = Type.Object({}, { additionalProperties: true, description: 'A JSON Schema (draft 2020-12 subset supported by ajv).' });

export const Route = Type.Object(
  {
    ...StoredFields,
    name: Name,
    methods: Type.Array(Type.Union(HTTP_METHODS.map((m) => Type.Literal(m))), {
      minItems: 1,
      uniqueItems: true,
      default: ['GET', 'POST'],
    }),
    paths: Type.Array(
      Type.String({ pattern: '^/', minLength: 1, description: 'Exact path, with :params, or ending in /* for a prefix.' }),
      { minItems: 1 },
    ),
    hosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Match only these Host headers.' })),
    upstream: Name,
    ...RouteInferenceFields,
    stripPrefix: Type.Optional(Type.String({ pattern: '^/' })),
    auth: Type.Union(AUTH_MODES.map((m) => Type.Literal(m)), { default: 'none' }),
    jwtAudience: Type.Optional(Type.String()),
    rateLimit: Type.Optional(RateLimit),
    meterTokens: Type.Optional(
      Type.Boolean({
        description: "Read the worker's `usage` from JSON answers and from the last event of streamed (SSE) answers, and count prompt and completion tokens per consumer, route and model.",
      }),
    ),
    meterStreams: Type.Optional(
      Type.Boolean({
        description:
          'Implies meterTokens. A streamed JSON request without stream_options.include_usage gets it added on its way upstream, and the usage-only chunk that adds is removed from what the client receives.',
      }),
    ),
    tokenLimit: Type.Optional(TokenLimit),
    timeoutMs: Type.Integer({ minimum: 1, default: 120000, description: 'Whole request, first byte to last.' }),
    perTryTimeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          "One attempt's wait for the response headers, when the request may be retried (idempotent methods, or retryNonIdempotent): on expiry that attempt is abandoned and the request retried on another target, all within timeoutMs (Envoy's per_try_timeout). Unset: an attempt may take all of timeoutMs.",
      }),
    ),
    idleTimeoutMs: Type.Integer({ minimum: 1, default: 30000, description: 'Longest gap between bytes from upstream.' }),
    upgradeIdleTimeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        description:
          "Longest time an upgraded connection (a WebSocket) may carry no byte in either direction before the gateway closes both sides (HAProxy's timeout tunnel). Unset: 300000 (Envoy's stream idle timeout).",
      }),
    ),
    retries: Type.Integer({ minimum: 0, maximum: 5, default: 1 }),
    retryNonIdempotent: Type.Boolean({
      default: false,
      description: 'Also retry POST/PATCH on 502/503/504 and timeouts (connect errors are always retried).',
    }),
    bodyLimit: Type.Integer({ minimum: 0, default: 10485760, description: 'Largest request body in bytes.' }),
    schema: Type.Optional(
      Type.Object(
        { body: Type.Optional(JsonSchema), querystring: Type.Optional(JsonSchema), headers: Type.Optional(JsonSchema) },
        { additionalProperties: false },
      ),
    ),
    ipRestriction: Type.Optional(
      Type.Object(
        { allow: Type.Optional(Type.Array(Type.String())), deny: Type.Optional(Type.Array(Type.String())) },
        { additionalProperties: false },
      ),
    ),
    cors: Type.Optional(
      Type.Object(
        {
          origins: Type.Array(Type.String(), { default: ['*'] }),
          methods: Type.Optional(Type.Array(Type.String())),
          headers: Type.Optional(Type.Array(Type.String())),
          credentials: Type.Boolean({ default: false }),
          maxAgeSeconds: Type.Integer({ minimum: 0, default: 600 }),
        },
        { additionalProperties: false },
      ),
    ),
    hsts: Type.Optional(
      Type.Object(
        {
          maxAgeSeconds: Type.Integer({ minimum: 0, maximum: 63072000, default: 31536000, description: 'max-age of Strict-Transport-Security (RFC 6797 §6.1.1); 0 tells browsers to forget it.' }),
          includeSubDomains: Type.Boolean({ default: false }),
          preload: Type.Boolean({ default: false, description: 'Ask for the browsers\' preload list (needs includeSubDomains and a max-age of a year or more).' }),
        },
        { additionalProperties: false, description: 'Strict-Transport-Security on this route\'s answers over TLS (never over plain HTTP, RFC 6797 §7.2).' },
      ),
    ),
    docs: Type.Optional(
      Type.Object(
        {
          summary: Type.Optional(Type.String()),
          description: Type.Optional(Type.String()),
          tags: Type.Optional(Type.Array(Type.String())),
          public: Type.Boolean({ default: true }),
        },
        { additionalProperties: false },
      ),
    ),
    enabled: Type.Boolean({ default: true }),
  },
  { additionalProperties: false },
);
export type Route = Static<typeof Route>;
