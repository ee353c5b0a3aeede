import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { ProblemError } from '../errors.js';

/** admin-ui/dist from dist/gateway/src/admin/ (where this file runs once compiled). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../../admin-ui/dist/', import.meta.url));

/** Paths the console must never shadow: the API, its docs, and the scrape and health endpoints. */
const SERVER_PATHS = /^\/(api(\/|$)|metrics$|healthz$)/;

/**
 * The console loads scripts and styles only from this origin (Vite emits no inline script) and
 * evaluates no string as code: the forms' ajv validators are compiled at build time
 * (admin-ui/form-validators.ts). Inline style attributes are allowed because the form and chart
 * libraries set them.
 */
const CONSOLE_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/**
 * The admin console at `/`: the built files of admin-ui/, and index.html for any other GET that
 * is not the API's (client-side routes such as /upstreams/gpus survive a reload). When the
 * console was never built, `/` says how to build it instead of answering 404.
 */
export async function registerConsole(app: FastifyInstance, dir = CONSOLE_DIR): Promise<void> {
  const built = existsSync(`${dir}/index.html`);
  const notAnEndpoint = (method: string, url: string) => new ProblemError(404, 'not-found', `no admin endpoint ${method} ${url.split('?')[0]}`);
  if (!built) {
    const howTo =
      `The admin console is not built (no ${dir}index.html).\n\n` +
      'Build it with `npm run build` (or `npm ci`, which runs it) in the Switchboard directory, then restart the gateway.\n' +
      'The admin API works meanwhile: /api/v1 (documented at /api/docs).\n';
    app.get('/*', { schema: { hide: true } }, async (request, reply) => {
      if (SERVER_PATHS.test(request.url)) throw notAnEndpoint(request.method, request.url);
      return reply.type('text/plain; charset=utf-8').send(howTo);
    });
    return;
  }
  await app.register(fastifyStatic, {
    root: dir,
    // Files are listed once at start-up (a rebuilt console needs a restart); everything else
    // reaches the SPA fallback below rather than the filesystem.
    wildcard: false,
    index: false,
    schemaHide: true,
    setHeaders: (res, path) => {
      if (path.includes('/assets/')) res.header('cache-control', 'public, max-age=31536000, immutable');
      else res.header('cache-control', 'no-cache');
    },
  });
  const sendIndex = (reply: import('fastify').FastifyReply) => reply.headers(CONSOLE_HEADERS).header('cache-control', 'no-cache').sendFile('index.html');
  app.get('/', { schema: { hide: true } }, (_request, reply) => sendIndex(reply));
  app.get('/*', { schema: { hide: true } }, async (request, reply) => {
    const path = request.url.split('?')[0]!;
    // A missing file (a name with an extension) is a 404, not the app: a stale asset URL must fail visibly.
    if (SERVER_PATHS.test(path) || /\.[A-Za-z0-9]+$/.test(path)) throw notAnEndpoint(request.method, request.url);
    return sendIndex(reply);
  });
}
