import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Route } from '../../../spec/route.js';
import type { GenerationContext } from '../generation/route-stage.js';
import { docsCaller } from './docs-caller.js';
import { PartnerDocs, type DocsAudience, type OpenApiDocument } from './openapi-document.js';

export const DOCS_PREFIX = '/docs';
export const DOCUMENT_PATH = `${DOCS_PREFIX}/openapi.json`;

/** Every path the portal answers: swagger-ui's (see @fastify/swagger-ui lib/routes.js) and ours. */
const PORTAL_PATHS = new Set(
  ['', '/', '/openapi.json', '/json', '/yaml', '/static/*', '/static/index.html', '/static/swagger-initializer.js'].map((p) => DOCS_PREFIX + p),
);
/** The ones that hand out a document, and so look at the caller's credentials. */
const DOCUMENT_PATHS = new Set([DOCUMENT_PATH, `${DOCS_PREFIX}/json`, `${DOCS_PREFIX}/yaml`]);

/**
 * A configured route on one of the portal's own paths (GET, any host) would make the revision
 * fail to compile; the operator's route wins instead and the portal steps aside.
 */
export function routeShadowingPortal(routes: readonly Route[]): Route | undefined {
  return routes.find(
    (r) =>
      r.enabled !== false &&
      !r.hosts?.length &&
      (r.methods ?? ['GET', 'POST']).some((m) => m === 'GET' || m === 'HEAD') &&
      r.paths.some((p) => PORTAL_PATHS.has(p)),
  );
}

function routeClaimingRoot(routes: readonly Route[]): Route | undefined {
  return routes.find((r) => r.enabled !== false && (r.methods ?? ['GET', 'POST']).some((m) => m === 'GET' || m === 'HEAD') && r.paths.some((p) => p === '/' || p === '/*'));
}

/**
 * `GET /docs` (swagger-ui) and `GET /docs/openapi.json` on the public listener, registered in
 * every generation: the documents belong to the revision, so a reload replaces them with
 * everything else, and proxied requests never pass through any of this (it is its own
 * encapsulated scope; the front router sends only these paths here).
 */
export async function registerDocsPortal(app: FastifyInstance, ctx: GenerationContext): Promise<void> {
  const shadowing = routeShadowingPortal(ctx.state.routes);
  if (shadowing) {
    ctx.services.logger.warn({ route: shadowing.name }, `route "${shadowing.name}" claims a path of the docs portal (${DOCS_PREFIX}); the portal is off for this revision`);
    return;
  }
  // The public listener's bare address (the banner prints it) leads a reader to the portal,
  // unless a configured route serves `/` itself.
  if (!routeClaimingRoot(ctx.state.routes)) app.get('/', (_request, reply) => reply.redirect(DOCS_PREFIX, 302));

  await app.register(async (scope) => {
    const docs = new PartnerDocs(ctx.state);
    const identify = await docsCaller(scope, ctx);
    const audiences = new WeakMap<FastifyRequest, DocsAudience>();

    scope.addHook('onRequest', async (request) => {
      if (!DOCUMENT_PATHS.has(request.routeOptions.url ?? '')) return;
      const audience = await identify(request);
      if (audience) audiences.set(request, audience);
    });

    const documentFor = (request: FastifyRequest, reply: FastifyReply): OpenApiDocument => {
      const audience = audiences.get(request);
      // A per-key document is that partner's business: never in a shared cache.
      reply.header('cache-control', audience ? 'private, no-store' : 'no-cache').header('vary', 'x-api-key, authorization');
      const doc = audience ? docs.forCaller(audience) : docs.forEveryone();
      return { ...doc, servers: [{ url: serverUrl(request), description: 'this gateway' }] };
    };

    // Static mode with a placeholder: every answer comes from documentFor, per revision and caller.
    await scope.register(fastifySwagger, {
      mode: 'static',
      specification: { document: { openapi: '3.1.0', info: { title: 'Switchboard partner API', version: String(ctx.state.revision) }, paths: {} } },
    });
    await scope.register(fastifySwaggerUi, {
      routePrefix: DOCS_PREFIX,
      transformSpecificationClone: false,
      transformSpecification: (_placeholder: unknown, request: FastifyRequest, reply: FastifyReply) => documentFor(request, reply),
      uiConfig: { deepLinking: true, displayOperationId: false, tryItOutEnabled: false, requestInterceptor: keepSlashesInPaths as never },
      // swagger-ui's own policy (@fastify/swagger-ui staticCSP: true) without
      // upgrade-insecure-requests, which would break the portal on a plain-HTTP listener, and
      // without the outside validator badge: the page loads and calls nothing but this gateway.
      // Scripts stay 'self' only; swagger-ui applies inline styles (Chromium refuses them
      // otherwise, see test/docs/docs-browser.test.ts), which cannot run code.
      staticCSP: PORTAL_CSP,
    });
    scope.get(DOCUMENT_PATH, (request, reply) => {
      reply.send(documentFor(request, reply));
    });
  });
}

/**
 * Runs in the browser (swagger-ui's requestInterceptor, serialized into swagger-initializer.js):
 * swagger-ui percent-encodes a "/" typed into a path parameter, but a prefix route's `{path}`
 * is the rest of the path, slashes included (`/v1/{path}` with `chat/completions`). A route
 * parameter cannot hold a "/" anyway, so un-encoding it in the path part is always what the
 * partner meant. Plain ES5 on purpose: it is sent as source text.
 */
function keepSlashesInPaths(request: { url: string; loadSpec?: boolean }): { url: string } {
  if (request.loadSpec) return request;
  var query = request.url.indexOf('?');
  var path = query === -1 ? request.url : request.url.slice(0, query);
  request.url = path.replace(/%2F/gi, '/') + (query === -1 ? '' : request.url.slice(query));
  return request;
}

const PORTAL_CSP =
  "default-src 'self'; base-uri 'self'; connect-src 'self'; font-src 'self' data:; form-action 'self'; frame-ancestors 'self'; " +
  "img-src 'self' data:; object-src 'none'; script-src 'self'; script-src-attr 'none'; style-src 'self' 'unsafe-inline'";

/** Only a well-formed Host is echoed back; anything else gets a relative server URL. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** The public listener the request came in on, so "Try it out" calls the same address. */
function serverUrl(request: FastifyRequest): string {
  const host = request.headers.host;
  if (typeof host !== 'string' || !HOST.test(host)) return '/';
  const encrypted = (request.raw.socket as { encrypted?: boolean }).encrypted === true;
  return `${encrypted ? 'https' : 'http'}://${host}`;
}
