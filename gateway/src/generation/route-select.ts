import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { Route } from '../../../spec/route.js';
import { problem, writeProblem, type ErrorFormat, type Problem } from '../errors.js';
import { newRequestId } from './request-id.js';
import type { SelfAnswered } from './self-answered.js';
import { bodyTooLargeDetail } from './body-limit.js';

/**
 * Content switching: the routes sharing one method, path and host, told apart by headers,
 * query parameters, the path's file extension and the JSON body's `model`, tried by priority.
 * Only routes that ask for it (`match`, `priority` beside another route, `fallbacks`, a path
 * like `/media/*.png`) come through here; every other route keeps its own router entry and pays
 * nothing for this file.
 */

/** The body as the selector read it: the bytes go upstream unchanged (StageFacts.body). */
export interface ReadBody {
  readonly bytes: Buffer;
  /** Whether the content type is JSON (application/json, application/*+json). */
  readonly isJson: boolean;
  /** The parsed body, parsed at most once; undefined when it is not JSON or does not parse. */
  json(): unknown;
}

/** Set on the raw request when the selector read the body, for the chosen route's parser. */
export const READ_BODY: unique symbol = Symbol('switchboard.readBody');
/** Set on the raw request to tell Fastify's router which route of a group was chosen. */
export const CHOSEN_ROUTE: unique symbol = Symbol('switchboard.chosenRoute');

declare module 'node:http' {
  interface IncomingMessage {
    [READ_BODY]?: ReadBody;
    [CHOSEN_ROUTE]?: string;
  }
}

/** The router constraint (find-my-way's custom strategy) keyed by the chosen route's name. */
export const CHOSEN_ROUTE_CONSTRAINT = 'switchboardRoute';

export const chosenRouteStrategy = {
  name: CHOSEN_ROUTE_CONSTRAINT,
  storage<Store>() {
    const byName = new Map<string, Store>();
    return { get: (name: string): Store | null => byName.get(name) ?? null, set: (name: string, store: Store): void => void byName.set(name, store) };
  },
  // undefined (no selector chose) matches only unconstrained routes; the typings want a string.
  deriveConstraint: (req: IncomingMessage) => req[CHOSEN_ROUTE] as string,
  // A request that did not come through a selector must not reach a grouped route.
  mustMatchWhenDerived: true,
  validate(value: unknown) {
    if (typeof value !== 'string') throw new TypeError('switchboardRoute must be a route name');
  },
};

/** Serve the request with this route; `body` is set when the selector read it. */
export type Serve = (req: IncomingMessage, res: ServerResponse, requestId: string, body: ReadBody | undefined) => void;

export interface Candidate {
  readonly route: Route;
  /** The path's extension condition (`.png` for `/media/*.png`), lower case. */
  readonly extension: string | undefined;
  readonly serve: Serve;
}

type Condition = readonly [name: string, values: readonly string[]];

interface Compiled {
  readonly name: string;
  readonly route: Route;
  readonly methods: ReadonlySet<string>;
  readonly extension: string | undefined;
  readonly headers: readonly Condition[] | undefined;
  readonly query: readonly Condition[] | undefined;
  readonly models: ReadonlySet<string> | undefined;
  /** The route reads the whole body before the proxy (a model match, fallbacks, a body schema). */
  readonly needsBody: boolean;
  readonly bodyLimit: number;
  readonly serve: Serve;
}

const conditions = (record: Record<string, string | string[]> | undefined, lower: boolean): Condition[] | undefined =>
  record && Object.keys(record).length
    ? Object.entries(record).map(([name, value]) => [lower ? name.toLowerCase() : name, typeof value === 'string' ? [value] : value] as const)
    : undefined;

/** Whether a route makes its path a selector group (the fields of route-inference.ts, or an extension path). */
export function needsSelector(route: Route): boolean {
  return route.match !== undefined || route.priority !== undefined || (route.fallbacks?.length ?? 0) > 0 || route.paths.some((p) => splitExtension(p).extension !== undefined);
}

/** `/media/*.png` → router path `/media/*` and extension `.png`; any other path unchanged. */
export function splitExtension(path: string): { routerPath: string; extension: string | undefined } {
  const m = /\/\*(\.[A-Za-z0-9._-]+)$/.exec(path);
  if (!m) return { routerPath: path, extension: undefined };
  return { routerPath: path.slice(0, m.index) + '/*', extension: m[1]!.toLowerCase() };
}

/** Does the route read its body before the proxy? */
export function routeNeedsBody(route: Route): boolean {
  // meterStreams: the token meter may add stream_options.include_usage to the body it forwards.
  return route.match?.body !== undefined || (route.fallbacks?.length ?? 0) > 0 || route.schema?.body !== undefined || route.meterStreams === true;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

function compileCandidate(c: Candidate, order: number): Compiled & { order: number; priority: number } {
  const route = c.route;
  return {
    name: route.name,
    route,
    methods: new Set(route.methods ?? ['GET', 'POST']),
    extension: c.extension,
    headers: conditions(route.match?.headers, true),
    query: conditions(route.match?.query, false),
    models: route.match?.body ? new Set(route.match.body.model) : undefined,
    needsBody: routeNeedsBody(route),
    bodyLimit: route.bodyLimit ?? 10 * 1024 * 1024,
    serve: c.serve,
    order,
    priority: route.priority ?? 0,
  };
}

/** Why a candidate does not take the request, for the log; undefined when it does. */
function mismatch(c: Compiled, req: IncomingMessage, path: string, query: () => URLSearchParams, body: ReadBody | undefined): string | undefined {
  const method = req.method ?? 'GET';
  if (!c.methods.has(method) && !(method === 'HEAD' && c.methods.has('GET'))) return `method ${method}`;
  if (c.extension !== undefined && !path.toLowerCase().endsWith(c.extension)) return `extension (wants ${c.extension})`;
  if (c.headers)
    for (const [name, values] of c.headers) {
      const got = req.headers[name];
      const value = Array.isArray(got) ? got.join(', ') : got;
      if (value === undefined || !values.includes(value)) return `header ${name}`;
    }
  if (c.query)
    for (const [name, values] of c.query) {
      const got = query().get(name);
      if (got === null || !values.includes(got)) return `query ${name}`;
    }
  if (c.models) {
    const model = modelOf(body);
    if (model === undefined) return 'body names no model';
    if (!c.models.has(model)) return `model "${model}"`;
  }
  return undefined;
}

function modelOf(body: ReadBody | undefined): string | undefined {
  const json = body?.json();
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
  const model = (json as { model?: unknown }).model;
  return typeof model === 'string' ? model : undefined;
}

export interface SelectorOptions {
  logger: FastifyBaseLogger;
  /** Told of the answers the selector gives itself (404, 400, 413), as the fast lane's are: counted and logged, under no route. */
  answered?: SelfAnswered | undefined;
}

/**
 * The one router entry of a group: picks the route, reading the body first only when the next
 * candidate to try matches on it (or every candidate left needs it anyway).
 */
export function selector(candidates: readonly Candidate[], options: SelectorOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const ordered = candidates
    .map(compileCandidate)
    // Higher priority first; among equals a route with conditions before a catch-all, then config order.
    .sort((a, b) => b.priority - a.priority || Number(b.route.match !== undefined) - Number(a.route.match !== undefined) || a.order - b.order);
  const format: ErrorFormat | undefined = ordered.find((c) => c.route.errorFormat !== undefined)?.route.errorFormat;
  const readLimit = Math.max(0, ...ordered.filter((c) => c.needsBody).map((c) => c.bodyLimit));
  const anyModels = ordered.some((c) => c.models !== undefined);
  const { logger } = options;

  const refuse = (req: IncomingMessage, res: ServerResponse, requestId: string, p: Problem, headers: Record<string, string> = {}) => {
    writeProblem(res, { ...p, instance: requestId }, { ...headers, 'x-request-id': requestId }, format);
    options.answered?.(req, requestId, p.status, undefined);
  };

  return (req, res) => {
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && given !== '' ? given : newRequestId();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    let params: URLSearchParams | undefined;
    const query = () => (params ??= new URLSearchParams(q === -1 ? '' : url.slice(q + 1)));
    const misses: Array<{ route: string; unmatched: string }> = [];

    const choose = (from: number, body: ReadBody | undefined): void => {
      for (let i = from; i < ordered.length; i++) {
        const c = ordered[i]!;
        if (body === undefined && c.models !== undefined && hasBody(req)) return readThen(i);
        const why = mismatch(c, req, path, query, body);
        if (why !== undefined) {
          misses.push({ route: c.name, unmatched: why });
          continue;
        }
        if (body === undefined && c.needsBody && hasBody(req)) return readThen(i);
        if (body !== undefined && body.bytes.length > c.bodyLimit)
          return refuse(req, res, requestId, problem('body-too-large', bodyTooLargeDetail(body.bytes.length, c.bodyLimit)), { connection: 'close' });
        if (body !== undefined) req[READ_BODY] = body;
        return c.serve(req, res, requestId, body);
      }
      logger.info({ requestId, method: req.method, path, candidates: misses }, 'no route matches the request');
      const model = modelOf(body);
      if (anyModels && model !== undefined)
        return refuse(req, res, requestId, problem('no-route', `no route serves the model "${model}" for ${req.method} ${path}`, { param: 'model', code: 'model_not_found' }));
      refuse(req, res, requestId, problem('no-route', `no route matches ${req.method} ${path}`));
    };

    const readThen = (from: number): void => {
      readBody(req, readLimit, (err, body) => {
        if (err !== undefined) return refuse(req, res, requestId, err, err.status === 413 ? { connection: 'close' } : {});
        const c = ordered[from]!;
        if (c.models !== undefined && !body!.isJson)
          return refuse(
            req,
            res,
            requestId,
            problem('invalid-body', `route "${c.name}" matches on the JSON body's model; the body's content-type is ${JSON.stringify(req.headers['content-type'] ?? 'missing')}, not JSON`),
          );
        if (c.models !== undefined && body!.json() === undefined)
          return refuse(req, res, requestId, problem('malformed-json', `route "${c.name}" matches on the body's model and the request body is not valid JSON`));
        choose(from, body);
      });
    };

    choose(0, undefined);
  };
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

/** Read the whole request body, refusing past `limit` bytes (the largest limit of the group's routes that read it). */
function readBody(req: IncomingMessage, limit: number, done: (err: Problem | undefined, body?: ReadBody) => void): void {
  const declared = Number(req.headers['content-length'] ?? -1);
  if (declared > limit) {
    req.resume();
    return done(problem('body-too-large', bodyTooLargeDetail(declared, limit)));
  }
  const chunks: Buffer[] = [];
  let seen = 0;
  let over = false;
  req.on('data', (chunk: Buffer) => {
    if (over) return;
    seen += chunk.length;
    if (seen > limit) {
      over = true;
      return done(problem('body-too-large', bodyTooLargeDetail(undefined, limit)));
    }
    chunks.push(chunk);
  });
  req.once('end', () => {
    if (over) return;
    const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    const isJson = JSON_TYPE.test(req.headers['content-type'] ?? '');
    let parsed: { value: unknown } | undefined;
    done(undefined, {
      bytes,
      isJson,
      json() {
        if (parsed === undefined) {
          parsed = { value: undefined };
          if (isJson && bytes.length > 0)
            try {
              parsed.value = JSON.parse(bytes.toString('utf8'));
            } catch {
              // Stays undefined: the caller names the bad body.
            }
        }
        return parsed.value;
      },
    });
  });
  req.once('error', () => {});
}
