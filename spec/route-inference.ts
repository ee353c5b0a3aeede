import { Type, type Static } from '@sinclair/typebox';
import { Name } from './common.js';

/** One value, or any of a list. */
const OneOrMany = Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })]);

/**
 * Conditions beyond the path (content switching): every condition given must hold. Routes
 * sharing a path are tried by `priority` (higher first; among equals, routes with a match before
 * one without, then configuration order); the first whose conditions hold serves the request.
 */
export const RouteMatch = Type.Object(
  {
    headers: Type.Optional(
      Type.Record(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), OneOrMany, {
        description: 'Request header (name in any case) → exact value, or any of a list of values.',
      }),
    ),
    query: Type.Optional(Type.Record(Type.String({ minLength: 1 }), OneOrMany, { description: 'Query parameter → exact value, or any of a list of values.' })),
    body: Type.Optional(
      Type.Object(
        {
          model: Type.Array(Type.String({ minLength: 1 }), {
            minItems: 1,
            uniqueItems: true,
            description: "The JSON body's `model` is one of these (also what the gateway's GET /v1/models lists).",
          }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type RouteMatch = Static<typeof RouteMatch>;

/** Another pool to try, with the model name that pool serves when it differs from the client's. */
export const RouteFallback = Type.Union([
  Name,
  Type.Object(
    {
      upstream: Name,
      rewrite: Type.Optional(
        Type.Object(
          { model: Type.String({ minLength: 1, description: "Replaces the JSON body's `model` for this pool (an alias → the name the pool serves)." }) },
          { additionalProperties: false },
        ),
      ),
    },
    { additionalProperties: false },
  ),
]);
export type RouteFallback = Static<typeof RouteFallback>;

export const ERROR_FORMATS = ['problem', 'openai'] as const;

/** The route fields of content switching, fallbacks and error formats (spread into Route). */
export const RouteInferenceFields = {
  match: Type.Optional(RouteMatch),
  priority: Type.Optional(Type.Integer({ minimum: -1000, maximum: 1000, description: 'Among routes sharing a path, higher is tried first (default 0).' })),
  fallbacks: Type.Optional(
    Type.Array(RouteFallback, {
      maxItems: 4,
      description:
        "Pools tried in order when the route's upstream has no eligible target, or answers 429 or 503 before any byte reached the client. A name, or {upstream, rewrite: {model}}.",
    }),
  ),
  errorFormat: Type.Optional(
    Type.Union(
      ERROR_FORMATS.map((f) => Type.Literal(f)),
      { description: 'How the gateway writes its own errors on this route: RFC 9457 problem+json (default) or OpenAI\'s {"error": {message, type, param, code}}.' },
    ),
  ),
};
