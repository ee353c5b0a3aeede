import { HTTP_METHODS, type AuthMode, type Route } from '../../../spec/route.js';
import { PATTERN_EXTENSION, ROUTE_EXTENSION } from './openapi-document.js';
import { toOpenApiPath, toRoutePattern } from './openapi-paths.js';

type Json = Record<string, unknown>;

/** What the importer needs from the command line. */
export interface ImportOptions {
  upstream: string;
  /** Gateway path prefix the API is served under; stripped before the request goes upstream. */
  prefix?: string | undefined;
  /** Auth for operations that are not Switchboard's own export (those carry theirs in `security`). */
  auth: AuthMode;
}

/** One thing in the document the gateway cannot express, named by where it is. */
export interface ImportProblem {
  where: string;
  message: string;
}

export class OpenApiImportError extends Error {
  constructor(readonly problems: ImportProblem[]) {
    super(`cannot import the OpenAPI document (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  ${p.where}: ${p.message}`).join('\n')}`);
    this.name = 'OpenApiImportError';
  }
}

export interface ImportResult {
  routes: Route[];
  /** Things mapped with a change the operator should know about (renamed parameters…). */
  notes: string[];
}

const OPERATION_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const ROUTE_METHODS = new Set<string>(HTTP_METHODS);
/** OpenAPI 3.1 §4.8.12.1: these header parameters are ignored by definition. */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);
const JSON_MEDIA = /^application\/(?:[\w.+-]+\+)?json(?:\s*;.*)?$/i;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** Annotations OpenAPI allows in schemas that mean nothing to a validator. */
const SCHEMA_ANNOTATIONS = new Set(['example', 'xml', 'externalDocs', 'discriminator']);

interface Draft {
  name: string;
  where: string;
  methods: string[];
  paths: string[];
  auth: AuthMode;
  schema: Route['schema'];
  docs: Route['docs'];
  rateLimit: Route['rateLimit'] | undefined;
  stripPrefix: string | undefined;
  /** JSON of everything that must agree between operations merged into one route. */
  shape: string;
}

/**
 * Routes from a dereferenced OpenAPI 3.0/3.1 document: one route per operation (or, for a
 * document Switchboard itself served, one per `x-switchboard-route`, so export → import gives
 * the same routes back). Names are stable — `<upstream>.<operationId>`, else
 * `<upstream>.<method>.<path>` — so importing a newer version of the file replaces the routes
 * instead of duplicating them. Everything that cannot be mapped is collected and thrown at
 * once; nothing partial comes out.
 */
export function routesFromOpenApi(doc: Json, options: ImportOptions): ImportResult {
  const problems: ImportProblem[] = [];
  const notes: string[] = [];
  const version = typeof doc.openapi === 'string' ? doc.openapi : undefined;
  if (!version || !/^3\.[01]\./.test(version)) {
    const found = typeof doc.swagger === 'string' ? `Swagger ${doc.swagger}` : version ? `OpenAPI ${version}` : 'no "openapi" field';
    throw new OpenApiImportError([{ where: 'openapi', message: `must be an OpenAPI 3.0 or 3.1 document (found ${found})` }]);
  }
  const openapi30 = version.startsWith('3.0.');
  const prefix = normalizePrefix(options.prefix, problems);
  const basePath = serverBasePath(doc, problems);
  const paths = (doc.paths ?? {}) as Record<string, Json>;
  const drafts = new Map<string, Draft>();

  for (const [template, item] of Object.entries(paths)) {
    if (!item || typeof item !== 'object') continue;
    for (const method of OPERATION_METHODS) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const where = `${method.toUpperCase()} ${template}`;
      const before = problems.length;
      if (!ROUTE_METHODS.has(method.toUpperCase())) {
        problems.push({ where, message: `${method.toUpperCase()} is not a method a route can serve (${[...ROUTE_METHODS].join(', ')})` });
        continue;
      }
      const ours = typeof op[ROUTE_EXTENSION] === 'string' ? (op[ROUTE_EXTENSION] as string) : undefined;
      const pattern = routePattern(template, item[PATTERN_EXTENSION], where, problems, notes);
      const parameters = mergedParameters(item.parameters, op.parameters);
      const schema = requestSchemas(parameters, op.requestBody as Json | undefined, where, openapi30, problems);
      if (problems.length > before || pattern === undefined) continue;

      const stripPrefix = ours ? (op['x-switchboard-strip-prefix'] as string | undefined) : prefix;
      const path = ours ? pattern : `${prefix ?? ''}${basePath}${pattern}`;
      const docs = ours && op['x-switchboard-docs'] ? (op['x-switchboard-docs'] as Route['docs']) : docsOf(op);
      const auth = ours ? authFromSecurity(op.security, where, problems) : options.auth;
      const rateLimit = ours ? (op['x-switchboard-rate-limit'] as Route['rateLimit']) : undefined;
      const name = ours ?? routeName(options.upstream, prefix, op.operationId, method, template, where, problems);
      if (name === undefined || auth === undefined) continue;

      // Everything but the body must agree between operations that are one route (a GET has no body).
      const shape = JSON.stringify({ auth, querystring: schema?.querystring, headers: schema?.headers, docs, rateLimit, stripPrefix });
      const draft = drafts.get(name);
      if (!draft) {
        drafts.set(name, { name, where, methods: [method.toUpperCase()], paths: [path], auth, schema, docs, rateLimit, stripPrefix, shape });
        continue;
      }
      if (!ours) {
        problems.push({ where, message: `its route name "${name}" is already taken by ${draft.where}; give the operations distinct operationIds` });
        continue;
      }
      const bodiesDiffer = schema?.body !== undefined && draft.schema?.body !== undefined && JSON.stringify(schema.body) !== JSON.stringify(draft.schema.body);
      if (draft.shape !== shape || bodiesDiffer) {
        problems.push({ where, message: `says it is route "${name}" like ${draft.where}, but with different schemas, auth or docs` });
        continue;
      }
      if (schema?.body && !draft.schema?.body) draft.schema = { ...draft.schema, body: schema.body };
      if (!draft.methods.includes(method.toUpperCase())) draft.methods.push(method.toUpperCase());
      if (!draft.paths.includes(path)) draft.paths.push(path);
    }
  }
  if (problems.length) throw new OpenApiImportError(problems);
  if (drafts.size === 0) throw new OpenApiImportError([{ where: 'paths', message: 'the document has no operations to import' }]);

  const routes = [...drafts.values()].map((d): Route => {
    const route: Json = { name: d.name, methods: d.methods, paths: d.paths, upstream: options.upstream, auth: d.auth };
    if (d.stripPrefix) route.stripPrefix = d.stripPrefix;
    if (d.rateLimit) route.rateLimit = d.rateLimit;
    if (d.schema && Object.keys(d.schema).length) route.schema = d.schema;
    if (d.docs && Object.keys(d.docs).length) route.docs = d.docs;
    return route as unknown as Route;
  });
  return { routes, notes };
}

function normalizePrefix(prefix: string | undefined, problems: ImportProblem[]): string | undefined {
  if (prefix === undefined || prefix === '' || prefix === '/') return undefined;
  const p = prefix.replace(/\/+$/, '');
  if (!/^\/[A-Za-z0-9._~\-/]*$/.test(p) || p.includes('//')) {
    problems.push({ where: '--prefix', message: `"${prefix}" must be a plain path such as /acme (letters, digits, "-", ".", "_", "~", "/")` });
    return undefined;
  }
  return p;
}

/** The path part of the first server URL: the upstream expects it in front of every path. */
function serverBasePath(doc: Json, problems: ImportProblem[]): string {
  const server = Array.isArray(doc.servers) ? (doc.servers[0] as Json | undefined) : undefined;
  if (!server || typeof server.url !== 'string') return '';
  const variables = (server.variables ?? {}) as Record<string, { default?: string }>;
  const url = server.url.replace(/\{([^}]+)\}/g, (_m, v: string) => variables[v]?.default ?? '');
  let path: string;
  try {
    path = new URL(url, 'http://relative.invalid').pathname;
  } catch {
    problems.push({ where: 'servers/0/url', message: `"${server.url}" is not a URL` });
    return '';
  }
  path = decodeURI(path).replace(/\/+$/, '');
  if (/[{}:*]/.test(path)) {
    problems.push({ where: 'servers/0/url', message: `the base path "${path}" cannot be part of a route path` });
    return '';
  }
  return path;
}

/**
 * An OpenAPI path template as a route pattern. Switchboard's own documents say the original
 * pattern in `x-switchboard-path` (wildcards, regex constraints), used when it agrees.
 */
function routePattern(template: string, given: unknown, where: string, problems: ImportProblem[], notes: string[]): string | undefined {
  if (typeof given === 'string' && toOpenApiPath(given).template === template) return given;
  if (!template.startsWith('/')) {
    problems.push({ where, message: 'the path must start with "/"' });
    return undefined;
  }
  if (template.includes('*')) {
    problems.push({ where, message: 'a "*" in a path template has no route equivalent (a route may only end in "/*")' });
    return undefined;
  }
  if (/\}\{/.test(template)) {
    problems.push({ where, message: 'two path parameters with nothing between them cannot be told apart by the router' });
    return undefined;
  }
  if (/\{[^}]*\/|\{[^}]*$|^[^{]*\}/.test(template)) {
    problems.push({ where, message: 'unbalanced "{" "}" in the path template' });
    return undefined;
  }
  // The router ends a parameter name at "-" or "."; rename such parameters (names are only labels).
  const renamed = template.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const safe = name.replace(/[^A-Za-z0-9_]/g, '_');
    if (safe !== name) notes.push(`${where}: path parameter "${name}" is called "${safe}" in the route`);
    return `{${safe}}`;
  });
  return toRoutePattern(renamed);
}

/** Operation parameters override path-item ones with the same name and location (OpenAPI 3.1 §4.8.10.1). */
function mergedParameters(pathLevel: unknown, opLevel: unknown): Json[] {
  const byKey = new Map<string, Json>();
  for (const list of [pathLevel, opLevel]) if (Array.isArray(list)) for (const p of list as Json[]) byKey.set(`${p.in}:${String(p.name).toLowerCase()}`, p);
  return [...byKey.values()];
}

function requestSchemas(parameters: Json[], requestBody: Json | undefined, where: string, openapi30: boolean, problems: ImportProblem[]): Route['schema'] {
  const query: Json = {};
  const queryRequired: string[] = [];
  let wholeQuery: Json | undefined;
  const headers: Json = {};
  const headersRequired: string[] = [];
  for (const p of parameters) {
    const name = String(p.name);
    const at = `${where} parameter "${name}" (in ${p.in})`;
    if (p.in === 'path') continue;
    if (p.in === 'cookie') {
      problems.push({ where: at, message: 'cookie parameters cannot be validated by a route; describe them in the operation text instead' });
      continue;
    }
    if (p.schema === undefined) {
      problems.push({ where: at, message: 'has `content` instead of `schema`; only schema parameters can be validated' });
      continue;
    }
    const schema = jsonSchema(p.schema, openapi30, `${at} schema`, problems);
    if (p.in === 'query') {
      // A form-exploded object is the whole querystring (how free-form queries are written).
      if ((p.style ?? 'form') === 'form' && p.explode !== false && (schema as Json).type === 'object' && (schema as Json).properties) {
        wholeQuery = schema as Json;
        continue;
      }
      if (p.style === 'deepObject' || (p.style && p.style !== 'form')) {
        problems.push({ where: at, message: `style "${String(p.style)}" cannot be validated by a route (only form style)` });
        continue;
      }
      query[name] = withDescription(schema, p.description);
      if (p.required) queryRequired.push(name);
    } else if (p.in === 'header') {
      const header = name.toLowerCase();
      if (IGNORED_HEADERS.has(header)) continue;
      headers[header] = withDescription(schema, p.description);
      if (p.required) headersRequired.push(header);
    } else {
      problems.push({ where: at, message: `unknown parameter location "${String(p.in)}"` });
    }
  }

  const out: NonNullable<Route['schema']> = {};
  if (wholeQuery && Object.keys(query).length) problems.push({ where, message: 'mixes a whole-querystring object parameter with single query parameters' });
  else if (wholeQuery) out.querystring = wholeQuery;
  else if (Object.keys(query).length) out.querystring = { type: 'object', properties: query, ...(queryRequired.length ? { required: queryRequired } : {}) };
  if (Object.keys(headers).length) out.headers = { type: 'object', properties: headers, ...(headersRequired.length ? { required: headersRequired } : {}) };

  const content = (requestBody?.content ?? {}) as Record<string, Json>;
  const media = Object.keys(content);
  if (media.length) {
    const json = media.filter((m) => JSON_MEDIA.test(m));
    const other = media.filter((m) => !JSON_MEDIA.test(m) && m !== '*/*');
    if (other.length)
      problems.push({
        where: `${where} requestBody`,
        message: `${other.join(', ')} bodies cannot be validated: a route with a body schema takes JSON only. Remove them from the operation or serve it with a route of your own without a schema`,
      });
    else if (json.length) {
      const given = content[json[0]!]!.schema;
      // An empty schema says "anything": the body then streams through unvalidated.
      if (given !== undefined && !isEmptySchema(given)) out.body = jsonSchema(given, openapi30, `${where} requestBody schema`, problems) as Json;
    }
  }
  return Object.keys(out).length ? out : undefined;
}

function withDescription(schema: unknown, description: unknown): unknown {
  if (typeof description !== 'string' || typeof schema !== 'object' || schema === null || (schema as Json).description) return schema;
  return { ...(schema as Json), description };
}

function isEmptySchema(schema: unknown): boolean {
  return schema === true || (typeof schema === 'object' && schema !== null && Object.keys(schema).length === 0);
}

/**
 * An OpenAPI schema as the JSON Schema a route holds: already dereferenced (a recursive one is
 * refused: a route's schema must stand alone), OpenAPI 3.0's `nullable` and boolean
 * `exclusiveMinimum`/`exclusiveMaximum` rewritten as JSON Schema says them, annotations that
 * mean nothing to a validator dropped.
 */
function jsonSchema(schema: unknown, openapi30: boolean, where: string, problems: ImportProblem[], seen = new Set<object>()): unknown {
  if (Array.isArray(schema)) return schema.map((s) => jsonSchema(s, openapi30, where, problems, seen));
  if (schema === null || typeof schema !== 'object') return schema;
  if (seen.has(schema)) {
    problems.push({ where, message: 'is recursive (a $ref back to itself); a route schema must be finite' });
    return {};
  }
  seen.add(schema);
  const source = schema as Json;
  const out: Json = {};
  for (const [key, value] of Object.entries(source)) {
    if (SCHEMA_ANNOTATIONS.has(key) || key.startsWith('x-')) continue;
    if (key === '$ref') {
      problems.push({ where, message: `has an unresolved $ref "${String(value)}"` });
      continue;
    }
    if (openapi30 && key === 'nullable') continue;
    if (openapi30 && (key === 'exclusiveMinimum' || key === 'exclusiveMaximum') && typeof value === 'boolean') continue;
    // `properties`, `patternProperties`, `$defs` hold schemas by name: keep the names.
    if ((key === 'properties' || key === 'patternProperties' || key === '$defs' || key === 'definitions') && value && typeof value === 'object') {
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSchema(v, openapi30, where, problems, seen)]));
      continue;
    }
    out[key] = typeof value === 'object' ? jsonSchema(value, openapi30, where, problems, seen) : value;
  }
  seen.delete(schema);
  if (openapi30) {
    if (source.exclusiveMinimum === true && typeof source.minimum === 'number') {
      out.exclusiveMinimum = source.minimum;
      delete out.minimum;
    }
    if (source.exclusiveMaximum === true && typeof source.maximum === 'number') {
      out.exclusiveMaximum = source.maximum;
      delete out.maximum;
    }
    if (source.nullable === true) {
      if (typeof source.type === 'string') out.type = [source.type, 'null'];
      else if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    }
  }
  return out;
}

function docsOf(op: Json): Route['docs'] {
  const docs: NonNullable<Route['docs']> = { public: true };
  if (typeof op.summary === 'string') docs.summary = op.summary;
  if (typeof op.description === 'string') docs.description = op.description;
  if (Array.isArray(op.tags) && op.tags.every((t) => typeof t === 'string')) docs.tags = op.tags as string[];
  return docs;
}

/** The auth of a route Switchboard documented, from the security schemes it listed. */
function authFromSecurity(security: unknown, where: string, problems: ImportProblem[]): AuthMode | undefined {
  if (!Array.isArray(security) || security.length === 0) return 'none';
  const schemes = new Set(security.flatMap((s) => Object.keys(s as Json)));
  const key = schemes.has('apiKey') || schemes.has('bearerKey');
  const jwt = schemes.has('jwt');
  if (key && jwt) return 'api-key-or-jwt';
  if (key) return 'api-key';
  if (jwt) return 'jwt';
  problems.push({ where, message: `security ${[...schemes].join(', ')} is none of Switchboard's (apiKey, bearerKey, jwt)` });
  return undefined;
}

const slug = (s: string) => s.replace(/[{}]/g, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-._]+|[-._]+$/g, '');

/** What every route name of one import starts with (`<upstream>[.<prefix>]`). */
export function importScope(upstream: string, prefix: string | undefined): string {
  const p = prefix?.replace(/\/+$/, '');
  return [upstream, p ? slug(p) : ''].filter(Boolean).join('.');
}

function routeName(upstream: string, prefix: string | undefined, operationId: unknown, method: string, template: string, where: string, problems: ImportProblem[]): string | undefined {
  const scope = importScope(upstream, prefix);
  const own = typeof operationId === 'string' && operationId !== '' ? slug(operationId) : `${method}.${slug(template) || 'root'}`;
  const name = `${scope}.${own}`;
  if (name.length > 100 || !NAME_PATTERN.test(name)) {
    problems.push({ where, message: `makes the route name "${name}", which is not a valid name (at most 100 letters, digits, ".", "_", "-"); shorten its operationId` });
    return undefined;
  }
  return name;
}
