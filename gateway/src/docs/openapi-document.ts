import type { Consumer } from '../../../spec/consumer.js';
import type { Route } from '../../../spec/route.js';
import type { ConfigState, Stored } from '../store/port.js';
import { toOpenApiPath, type PathParameter } from './openapi-paths.js';

/** An OpenAPI 3.1 document, as plain JSON. */
export type OpenApiDocument = Record<string, unknown> & { paths: Record<string, Record<string, unknown>> };
type Json = Record<string, unknown>;

/** How a caller proved who it is: which routes it can call depends on it (auth: api-key vs jwt). */
export type CredentialKind = 'api-key' | 'jwt';

export interface DocsAudience {
  consumer: Stored<Consumer>;
  credential: CredentialKind;
  /** A JWT's verified `aud` values: a route with `jwtAudience` takes only a token for it. */
  audiences?: readonly string[] | undefined;
}

/** Distinct callers whose documents one revision keeps; past it the cache starts over (cheap, rare). */
const CALLER_CACHE_LIMIT = 1000;

/** Marks an operation with the route it documents; import-openapi reads it back (round trip). */
export const ROUTE_EXTENSION = 'x-switchboard-route';
/** The original find-my-way pattern of a path item. */
export const PATTERN_EXTENSION = 'x-switchboard-path';
/** The caller's own limits, in a per-key document. */
export const LIMITS_EXTENSION = 'x-switchboard-limits';

const SECURITY_SCHEMES = {
  apiKey: {
    type: 'apiKey',
    in: 'header',
    name: 'x-api-key',
    description: 'Your Switchboard API key (`sb_live_…`) in the `x-api-key` header.',
  },
  bearerKey: {
    type: 'http',
    scheme: 'bearer',
    description: 'Your Switchboard API key (`sb_live_…`) as `Authorization: Bearer <key>`.',
  },
  jwt: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A JWT signed by one of your registered issuers (`iss`), with `exp`, as `Authorization: Bearer <jwt>`.',
  },
  // OpenAPI 3.1 §4.8.27: a client certificate presented in the TLS handshake.
  mtls: {
    type: 'mutualTLS',
    description: 'Your client certificate, issued by the CA the gateway trusts, presented to the TLS listener.',
  },
} as const;

const SECURITY: Record<NonNullable<Route['auth']>, Array<Record<string, string[]>>> = {
  none: [],
  'api-key': [{ apiKey: [] }, { bearerKey: [] }],
  jwt: [{ jwt: [] }],
  'api-key-or-jwt': [{ apiKey: [] }, { bearerKey: [] }, { jwt: [] }],
  mtls: [{ mtls: [] }],
};

const PROBLEM_SCHEMA = {
  type: 'object',
  description: 'RFC 9457 problem details, for every error the gateway itself makes.',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string', description: 'Stable identifier: urn:switchboard:problem:<code>.' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string', description: 'The request id (also in x-request-id).' },
    errors: {
      type: 'array',
      description: 'One entry per field that failed the route schema.',
      items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } },
    },
  },
};

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
});

const RESPONSES = {
  BadRequest: problemResponse('The request does not match the route schema; `errors` names every failing field.'),
  Unauthorized: problemResponse('Missing or invalid credentials.'),
  Forbidden: problemResponse('Your credentials are valid, but your key may not call this route.'),
  TooManyRequests: problemResponse('A rate limit or quota is used up; see `Retry-After`.'),
  GatewayError: problemResponse('An error made by the gateway: 404 no route, 413 body too large, 502/503/504 upstream trouble.'),
};

const HTTP_METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** OpenAPI 3.1 §4.8.12.1: header parameters by these names are ignored; the security schemes carry credentials. */
const UNDOCUMENTED_HEADERS = new Set(['accept', 'content-type', 'authorization', 'x-api-key']);

/** Routes the public document lists: enabled, and not hidden with `docs.public: false`. */
export function isPublic(route: Route): boolean {
  return route.enabled !== false && route.docs?.public !== false;
}

/**
 * Routes this caller may call and should read about: the auth stage must accept its kind of
 * credential, the authorization stage its consumer (`routes` absent = every route that takes
 * credentials), and `auth: none` routes are callable by anyone. A route hidden from the public
 * document (`docs.public: false`) is shown to a consumer that names it in its `routes`: that
 * grant is explicit, and a partner cannot use what nobody tells it about.
 */
export function isCallableBy(route: Route, audience: DocsAudience): boolean {
  if (route.enabled === false) return false;
  const auth = route.auth ?? 'none';
  if (auth === 'none') return isPublic(route);
  if (auth !== 'api-key-or-jwt' && auth !== audience.credential) return false;
  if (audience.credential === 'jwt' && route.jwtAudience !== undefined && !audience.audiences?.includes(route.jwtAudience)) return false;
  const allowed = audience.consumer.routes;
  if (allowed === undefined) return isPublic(route);
  return allowed.includes(route.name);
}

/** The public document, the per-caller documents: each built once per revision, on first use. */
export class PartnerDocs {
  private everyone: OpenApiDocument | undefined;
  private readonly byCaller = new Map<string, OpenApiDocument>();

  constructor(private readonly state: ConfigState) {}

  forEveryone(): OpenApiDocument {
    return (this.everyone ??= buildDocument(this.state, this.state.routes.filter(isPublic), undefined));
  }

  /** Cached per consumer, kind of credential (and JWT audiences); dropped with the revision. */
  forCaller(audience: DocsAudience): OpenApiDocument {
    const key = `${audience.credential}:${audience.consumer.id}:${audience.audiences?.join(' ') ?? ''}`;
    let doc = this.byCaller.get(key);
    if (doc === undefined) {
      if (this.byCaller.size >= CALLER_CACHE_LIMIT) this.byCaller.clear();
      doc = buildDocument(
        this.state,
        this.state.routes.filter((r) => isCallableBy(r, audience)),
        audience,
      );
      this.byCaller.set(key, doc);
    }
    return doc;
  }
}

/** The OpenAPI 3.1 document of `routes` at `state`'s revision; `servers` is the caller's to fill. */
export function buildDocument(state: ConfigState, routes: readonly Route[], audience: DocsAudience | undefined): OpenApiDocument {
  const paths: Record<string, Record<string, unknown>> = {};
  const schemas: Record<string, unknown> = { Problem: PROBLEM_SCHEMA };
  const tags = new Set<string>();
  const operationIds = new Set<string>();
  const shadowed: string[] = [];

  for (const route of routes) {
    for (const tag of route.docs?.tags ?? []) tags.add(tag);
    const components = routeSchemas(route, schemas);
    const methods = route.methods ?? ['GET', 'POST'];
    for (const pattern of route.paths) {
      const { template, parameters } = toOpenApiPath(pattern);
      const item = (paths[template] ??= { [PATTERN_EXTENSION]: pattern });
      for (const method of methods) {
        const key = method.toLowerCase();
        if (item[key]) {
          // Two routes on one path and method differ by host or priority: the first documented wins.
          shadowed.push(`${method} ${template} (route "${route.name}")`);
          continue;
        }
        const operationId = uniqueId(operationIds, methods.length === 1 && route.paths.length === 1 ? route.name : `${route.name}.${key}${route.paths.length > 1 ? `.${route.paths.indexOf(pattern) + 1}` : ''}`);
        item[key] = operation(route, method, parameters, components, operationId);
      }
    }
  }

  const description = [
    `The partner API behind this gateway, at configuration revision ${state.revision}.`,
    'Authorize with your API key (`x-api-key: sb_live_…` or `Authorization: Bearer sb_live_…`) or, where a route accepts one, a JWT.',
    'Send the same credentials to `GET /docs/openapi.json` to get the routes your key may call and your own limits.',
    'Every error the gateway itself makes is `application/problem+json` (RFC 9457) with the request id in `instance` and in `x-request-id`.',
  ];
  if (audience) description.push('', limitsText(audience.consumer));
  if (shadowed.length) description.push('', `Not listed because another route answers first: ${shadowed.join('; ')}.`);

  return {
    openapi: '3.1.0',
    info: {
      title: audience ? `Switchboard partner API for ${audience.consumer.name}` : 'Switchboard partner API',
      version: String(state.revision),
      description: description.join('\n'),
    },
    ...(tags.size ? { tags: [...tags].sort().map((name) => ({ name })) } : {}),
    paths,
    components: { securitySchemes: SECURITY_SCHEMES, schemas, responses: RESPONSES },
    'x-switchboard-revision': state.revision,
    ...(audience ? { [LIMITS_EXTENSION]: limitsOf(audience.consumer) } : {}),
  };
}

interface RouteComponents {
  body?: string;
  querystring?: string;
  headers?: string;
}

/**
 * A route's schemas go into components.schemas under `<route>.<part>`, their local `$ref`s
 * (`#/definitions/…`, `#`) rewritten to point inside that component: in the route they were
 * relative to the schema's root, in the document they would be relative to the document's.
 */
function routeSchemas(route: Route, schemas: Record<string, unknown>): RouteComponents {
  const parts: RouteComponents = {};
  for (const part of ['body', 'querystring', 'headers'] as const) {
    const schema = route.schema?.[part];
    if (schema === undefined) continue;
    const name = `${route.name}.${part}`;
    const { $schema: _dialect, $id: _id, ...rest } = schema as Json;
    schemas[name] = rebase(rest, `#/components/schemas/${name}`);
    parts[part] = name;
  }
  return parts;
}

function rebase(value: unknown, base: string): unknown {
  if (Array.isArray(value)) return value.map((v) => rebase(v, base));
  if (value === null || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#') ? base + v.slice(1) : rebase(v, base);
  }
  return out;
}

function operation(route: Route, method: string, pathParameters: PathParameter[], components: RouteComponents, operationId: string): Json {
  const auth = route.auth ?? 'none';
  const parameters: Json[] = pathParameters.map((p) => pathParameter(p, route));
  const querystring = route.schema?.querystring as Json | undefined;
  if (querystring && components.querystring) parameters.push(...schemaParameters('query', querystring, components.querystring));
  const headers = route.schema?.headers as Json | undefined;
  if (headers && components.headers) parameters.push(...schemaParameters('header', headers, components.headers));

  const responses: Json = {
    '200': { description: "The upstream's answer, passed through unchanged (streamed as it comes, Server-Sent Events included)." },
  };
  if (route.schema) responses['400'] = { $ref: '#/components/responses/BadRequest' };
  if (auth !== 'none') {
    responses['401'] = { $ref: '#/components/responses/Unauthorized' };
    responses['403'] = { $ref: '#/components/responses/Forbidden' };
  }
  if (route.rateLimit || auth !== 'none') responses['429'] = { $ref: '#/components/responses/TooManyRequests' };
  responses.default = { $ref: '#/components/responses/GatewayError' };

  const op: Json = {
    operationId,
    ...(route.docs?.summary ? { summary: route.docs.summary } : {}),
    description: operationDescription(route),
    ...(route.docs?.tags?.length ? { tags: route.docs.tags } : {}),
    ...(parameters.length ? { parameters } : {}),
    responses,
    security: SECURITY[auth],
    [ROUTE_EXTENSION]: route.name,
    // What import-openapi needs to give this route back unchanged (see openapi-import.ts).
    ...(route.docs ? { 'x-switchboard-docs': route.docs } : {}),
    ...(route.stripPrefix ? { 'x-switchboard-strip-prefix': route.stripPrefix } : {}),
    ...(route.rateLimit ? { 'x-switchboard-rate-limit': route.rateLimit } : {}),
  };
  if (HTTP_METHODS_WITH_BODY.has(method)) {
    op.requestBody = components.body
      ? { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${components.body}` } } } }
      : {
          required: false,
          description: 'Passed to the upstream unchanged, in any media type; this route does not validate it.',
          content: { 'application/json': { schema: {} } },
        };
  }
  return op;
}

function pathParameter(p: PathParameter, route: Route): Json {
  if (p.wildcard)
    return {
      name: p.name,
      in: 'path',
      required: true,
      description:
        'The rest of the path after the prefix, slashes included (this route matches the prefix and everything below it), e.g. `chat/completions`.',
      schema: { type: 'string' },
      [PATTERN_EXTENSION]: route.paths.find((path) => path.endsWith('*')),
    };
  return { name: p.name, in: 'path', required: true, schema: { type: 'string', ...(p.pattern ? { pattern: p.pattern } : {}) } };
}

/**
 * An object schema's properties become one parameter each (what a reader expects to see); any
 * other shape is documented whole, as one exploded form-style object (OpenAPI 3.1 §4.8.12.4).
 */
function schemaParameters(where: 'query' | 'header', schema: Json, component: string): Json[] {
  const properties = schema.properties as Record<string, Json> | undefined;
  const base = `#/components/schemas/${component}`;
  if (!properties || typeof properties !== 'object') {
    return where === 'query' ? [{ name: 'query', in: 'query', style: 'form', explode: true, schema: { $ref: base } }] : [];
  }
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  const out: Json[] = [];
  for (const [name, property] of Object.entries(properties)) {
    if (where === 'header' && UNDOCUMENTED_HEADERS.has(name.toLowerCase())) continue;
    const description = property && typeof property === 'object' ? property.description : undefined;
    out.push({
      name,
      in: where,
      ...(required.has(name) ? { required: true } : {}),
      ...(typeof description === 'string' ? { description } : {}),
      schema: { $ref: `${base}/properties/${pointerEscape(name)}` },
    });
  }
  return out;
}

/** RFC 6901 escaping, then RFC 3986 for the fragment the pointer sits in. */
function pointerEscape(name: string): string {
  return encodeURIComponent(name.replace(/~/g, '~0').replace(/\//g, '~1'));
}

function operationDescription(route: Route): string {
  const lines: string[] = [];
  if (route.docs?.description) lines.push(route.docs.description, '');
  const auth = route.auth ?? 'none';
  lines.push(
    auth === 'none'
      ? 'No credentials needed.'
      : auth === 'api-key'
        ? 'Needs an API key.'
        : auth === 'jwt'
          ? `Needs a JWT${route.jwtAudience ? ` with \`aud\` "${route.jwtAudience}"` : ''}.`
          : `Needs an API key or a JWT${route.jwtAudience ? ` (a JWT with \`aud\` "${route.jwtAudience}")` : ''}.`,
  );
  if (route.rateLimit) lines.push(`Rate limit: ${route.rateLimit.max} requests per ${duration(route.rateLimit.windowMs)} per ${route.rateLimit.by ?? 'consumer'}; answers carry \`RateLimit-*\` headers.`);
  if (route.hosts?.length) lines.push(`Only on host${route.hosts.length > 1 ? 's' : ''} ${route.hosts.join(', ')}.`);
  if (route.schema?.body) lines.push('The body is validated before it is forwarded: JSON only, every failing field named in a 400.');
  return lines.join('\n');
}

function limitsOf(consumer: Consumer): Json {
  const out: Json = { consumer: consumer.name };
  const record = consumer as unknown as Json;
  // tokenLimit/tokenQuota are the contract's inference limits; shown when a consumer has them.
  for (const field of ['rateLimit', 'quota', 'tokenLimit', 'tokenQuota']) if (record[field] !== undefined) out[field] = record[field];
  return out;
}

function limitsText(consumer: Consumer): string {
  const parts: string[] = [];
  if (consumer.rateLimit) parts.push(`${consumer.rateLimit.max} requests per ${duration(consumer.rateLimit.windowMs)} across all routes`);
  if (consumer.quota) parts.push(`a quota of ${consumer.quota.max} requests per UTC ${consumer.quota.period} (\`X-Quota-*\` headers)`);
  const record = consumer as unknown as Record<string, { max?: number; windowMs?: number; period?: string } | undefined>;
  if (record.tokenLimit?.max) parts.push(`${record.tokenLimit.max} tokens per ${duration(record.tokenLimit.windowMs ?? 60_000)}`);
  if (record.tokenQuota?.max) parts.push(`a quota of ${record.tokenQuota.max} tokens per ${record.tokenQuota.period ?? 'day'}`);
  return `Your limits (${consumer.name}): ${parts.length ? parts.join('; ') : 'none beyond each route’s own'}. The same figures are in \`${LIMITS_EXTENSION}\`.`;
}

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return ms === 3_600_000 ? 'hour' : `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return ms === 60_000 ? 'minute' : `${ms / 60_000} min`;
  if (ms % 1000 === 0) return ms === 1000 ? 'second' : `${ms / 1000} s`;
  return `${ms} ms`;
}

function uniqueId(taken: Set<string>, wanted: string): string {
  let id = wanted;
  for (let n = 2; taken.has(id); n++) id = `${wanted}.${n}`;
  taken.add(id);
  return id;
}
