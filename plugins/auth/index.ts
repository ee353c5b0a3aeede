import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Route } from '../../spec/route.js';
import type { Caller, GenerationContext, RouteStage, StageDone, StageReply, StageRequest } from '../../gateway/src/generation/route-stage.js';
import { KEY_MARKER } from '../../gateway/src/keys/api-key.js';
import { ApiKeyVerifier } from '../api-key/index.js';
import { JwtVerifier } from '../jwt/index.js';
import { MtlsVerifier } from '../mtls/index.js';
import { routePlugin, unauthorized } from '../stage-plugin.js';

/**
 * Both credential headers are removed on every authenticated route, whichever one carried the
 * credential: the gateway is the trust boundary, and a second secret the upstream never asked
 * for must not leak past it.
 */
const CONSUMED = ['x-api-key', 'authorization'];

/** `Bearer <token>` → token; anything else → undefined. */
function bearer(value: string | undefined): string | undefined {
  if (value === undefined || value.length < 8) return undefined;
  const scheme = value.charCodeAt(0) | 0x20;
  if (scheme !== 0x62 /* b */ || value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = value.slice(7).trim();
  return token.length ? token : undefined;
}

const usesJwt = (route: Route): boolean => route.auth === 'jwt' || route.auth === 'api-key-or-jwt';

/** The credential a keys-only route reads: `x-api-key`, else a bearer token. */
function presentedKey(headers: StageRequest['headers']): string | undefined {
  const headerKey = headers['x-api-key'];
  return typeof headerKey === 'string' ? headerKey : bearer(headers.authorization);
}

/** The one ending of every credential check: the caller it proved goes on, none gets the 401. */
function admit(request: StageRequest, caller: Caller | undefined, done: StageDone): void {
  if (caller === undefined) return done(unauthorized());
  request.caller = caller;
  done();
}

const authPlugin = routePlugin<{ route: Route; ctx: GenerationContext }>('auth', async (scope, { route, ctx }) => {
  const mode = route.auth;
  if (mode === 'mtls') {
    const certificates = new MtlsVerifier(ctx);
    scope.addHook('onRequest', (request: StageRequest, _reply: StageReply, done: StageDone) => admit(request, certificates.verify(request.raw), done));
    return;
  }
  const keys = mode === 'api-key' || mode === 'api-key-or-jwt' ? new ApiKeyVerifier(ctx) : undefined;
  if (!usesJwt(route)) {
    // Keys alone need nothing of Fastify's: such a route can be served on a stage lane.
    scope.addHook('onRequest', (request: StageRequest, _reply: StageReply, done: StageDone) => {
      request.consumedHeaders = CONSUMED;
      const key = presentedKey(request.headers);
      admit(request, key === undefined ? undefined : keys!.verify(key), done);
    });
    return;
  }
  // @fastify/jwt is in the shared scope (setupScope below): request.jwtVerify checks this route's audience.
  const jwt = new JwtVerifier(ctx);
  scope.addFastifyHook('onRequest', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const headers = request.headers;
    request.consumedHeaders = CONSUMED;
    const headerKey = headers['x-api-key'];
    if (keys !== undefined && typeof headerKey === 'string') return admit(request, keys.verify(headerKey), done);
    const token = bearer(headers.authorization);
    if (token === undefined) return done(unauthorized());
    // Our keys announce themselves; a JWT never starts with the marker (it starts with "eyJ").
    if (keys !== undefined && token.startsWith(KEY_MARKER)) return admit(request, keys.verify(token), done);
    jwt.verify(request, (caller) => admit(request, caller, done));
  });
});

/** Who is calling: `auth: api-key | jwt | api-key-or-jwt | mtls`. The same 401 for every failure. */
export const authStage: RouteStage = {
  name: 'auth',
  applies: (route) => route.auth !== undefined && route.auth !== 'none',
  // @fastify/jwt holds the verify options (the route's audience): one scope per audience.
  scopeKey: (route) => (usesJwt(route) ? `jwt:${JSON.stringify(route.jwtAudience ?? null)}` : undefined),
  async setupScope(scope, route, ctx) {
    await new JwtVerifier(ctx).register(scope, route);
  },
  async register(scope, route, ctx) {
    await authPlugin(scope, { route, ctx });
  },
};
