import type { FastifyInstance, FastifyRequest } from 'fastify';
import { issueKey, listKeys, revokeKey, rotateKey } from '../keys/key-service.js';
import { ProblemError } from '../errors.js';
import type { ConfigStore } from '../store/port.js';

export interface ConsumerKeyRouteDeps {
  store: ConfigStore;
}

interface ConsumerParams {
  id: string;
}
interface KeyParams extends ConsumerParams {
  keyId: string;
}

/** Who is acting, for the audit trail: the admin user the API's auth put on the request. */
function actorOf(request: FastifyRequest): string {
  const user = (request as FastifyRequest & { adminUser?: { email?: string; id?: string } }).adminUser;
  return user?.email ?? user?.id ?? 'admin';
}

/** A JSON object body, or an empty one; anything else is a 400 naming the body. */
function objectBody(request: FastifyRequest): Record<string, unknown> {
  const body = request.body;
  if (body === undefined || body === null || body === '') return {};
  if (typeof body !== 'object' || Array.isArray(body))
    throw new ProblemError(400, 'validation', 'the request body must be a JSON object', { errors: [{ path: '/', message: 'must be object' }] });
  return body as Record<string, unknown>;
}

function optionalExpiry(body: Record<string, unknown>): { expiresAt?: string | null } {
  if (!('expiresAt' in body)) return {};
  const value = body.expiresAt;
  if (value !== null && typeof value !== 'string')
    throw new ProblemError(400, 'validation', 'expiresAt must be a date-time string or null', { errors: [{ path: '/expiresAt', message: 'must be string or null' }] });
  return { expiresAt: value };
}

/**
 * `/consumers/:id/keys…` of the admin API. Registered by the admin server inside its
 * authenticated `/api/v1` scope, which also decides who may write. `:id` is a consumer id or name.
 * The plaintext key is in the 201 of create and rotate only; lists and audit never carry it.
 */
export function registerConsumerKeyRoutes(app: FastifyInstance, deps: ConsumerKeyRouteDeps): void {
  const { store } = deps;

  app.post<{ Params: ConsumerParams }>('/consumers/:id/keys', async (request, reply) => {
    const body = objectBody(request);
    const issued = await issueKey(store, request.params.id, { actor: actorOf(request), ...optionalExpiry(body) });
    reply.code(201).header('cache-control', 'no-store');
    return issued;
  });

  app.get<{ Params: ConsumerParams }>('/consumers/:id/keys', async (request) => listKeys(store, request.params.id));

  app.delete<{ Params: KeyParams }>('/consumers/:id/keys/:keyId', async (request) =>
    revokeKey(store, request.params.id, request.params.keyId, { actor: actorOf(request) }),
  );

  app.post<{ Params: KeyParams }>('/consumers/:id/keys/:keyId/rotate', async (request, reply) => {
    const body = objectBody(request);
    const grace = body.graceSeconds ?? 0;
    if (typeof grace !== 'number' || !Number.isInteger(grace) || grace < 0)
      throw new ProblemError(400, 'validation', 'graceSeconds must be a non-negative integer', { errors: [{ path: '/graceSeconds', message: 'must be integer >= 0' }] });
    const issued = await rotateKey(store, request.params.id, request.params.keyId, { actor: actorOf(request), graceSeconds: grace, ...optionalExpiry(body) });
    reply.code(201).header('cache-control', 'no-store');
    return issued;
  });
}
