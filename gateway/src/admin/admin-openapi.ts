import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/**
 * The admin API describes itself: OpenAPI 3.1 built by @fastify/swagger from the same route
 * schemas that validate requests (spec/ for items), so the document cannot drift from behaviour.
 * Register before the API routes: @fastify/swagger collects routes as they are added.
 */
export async function registerAdminOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchboard admin API',
        version: '1',
        description:
          'Manage upstreams, routes, consumers and admin users. Sign in with POST /auth/login and send the token as `Authorization: Bearer <token>`. Items are addressable by id or name, carry a `version` served as ETag; `If-Match` guards writes (412 when stale). Errors are RFC 9457 problem+json.',
      },
      servers: [{ url: '/api/v1' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
    // Paths are documented relative to the server URL above.
    transform: ({ schema, url }) => ({ schema, url: url.startsWith('/api/v1') ? url.slice('/api/v1'.length) || '/' : url }),
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/api/docs' });
}

/** `GET /api/v1/openapi.json` — the document, without authentication (it holds no data). */
export function registerOpenApiDocument(app: FastifyInstance): void {
  app.get('/api/v1/openapi.json', { schema: { hide: true } }, () => app.swagger());
  // The API's base URL, as the start-up banner prints it, says where to begin rather than 404.
  app.get('/api/v1', { schema: { hide: true } }, () => ({
    name: 'Switchboard admin API',
    signIn: 'POST /api/v1/auth/login {email, password} → {token}; then Authorization: Bearer <token>',
    openapi: '/api/v1/openapi.json',
    docs: '/api/docs',
  }));
}
