import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Route } from '../../../spec/route.js';
import { problem, sendProblem, type ErrorFormat } from '../errors.js';
import { keyIndexFor } from '../keys/key-index.js';
import type { ConfigState } from '../store/port.js';

/**
 * `GET /v1/models` when no route claims it: OpenAI's list shape, with the models named in
 * `match.body.model` of the routes the caller may use — open routes for everyone; API-key routes
 * for a valid key whose consumer's `routes` list (absent = all) names the route. A key that does
 * not verify is refused (401) as the routes would refuse it. JWT-only routes are not listed: a
 * JWT is verified per route (audience, JWKS) and this answer belongs to no route.
 */
export interface ModelsList {
  /** Answers the request; false when the revision names no model (a plain 404 follows). */
  answer(request: FastifyRequest, reply: FastifyReply): boolean;
}

const OPENAI_PATH = '/v1/models';

function credentialOf(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key'];
  if (typeof header === 'string' && header !== '') return header;
  const auth = request.headers.authorization;
  if (typeof auth === 'string' && auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim() || undefined;
  return undefined;
}

export function modelsList(state: ConfigState): ModelsList | undefined {
  const routes = state.routes.filter((r: Route) => r.enabled !== false && r.match?.body?.model.length);
  if (routes.length === 0) return undefined;
  const format: ErrorFormat = routes.some((r) => r.errorFormat === 'openai') ? 'openai' : 'problem';
  const created = Math.floor(Date.now() / 1000);
  const needsKey = routes.every((r) => r.auth !== 'none');

  return {
    answer(request, reply) {
      if (request.method !== 'GET' || request.url.split('?')[0] !== OPENAI_PATH) return false;
      const credential = credentialOf(request);
      const caller = credential === undefined ? undefined : keyIndexFor(state).verify(credential, Date.now())?.caller;
      const unauthorized = () =>
        sendProblem(reply, problem('unauthorized', 'missing or invalid credentials', { instance: request.id }), { 'www-authenticate': 'Bearer realm="switchboard"' }, format);
      if (credential !== undefined && caller === undefined) {
        unauthorized();
        return true;
      }
      if (caller === undefined && needsKey) {
        unauthorized();
        return true;
      }
      const seen = new Set<string>();
      const data: object[] = [];
      for (const route of routes) {
        const open = route.auth === 'none';
        const byKey = caller !== undefined && (route.auth === 'api-key' || route.auth === 'api-key-or-jwt') && (caller.consumer.routes?.includes(route.name) ?? true);
        if (!open && !byKey) continue;
        for (const id of route.match!.body!.model) {
          if (seen.has(id)) continue;
          seen.add(id);
          data.push({ id, object: 'model', created, owned_by: 'switchboard' });
        }
      }
      reply.header('x-request-id', request.id).header('cache-control', 'no-store').send({ object: 'list', data });
      return true;
    },
  };
}
