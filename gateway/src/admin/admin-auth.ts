import { createHash, timingSafeEqual } from 'node:crypto';
import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Role } from '../../../spec/user.js';
import { ProblemError } from '../errors.js';
import type { AdminDeps, AdminRouteConfig } from './admin-deps.js';
import { LoginBody, LoginResponse, Principal, ProblemSchema } from './admin-schemas.js';
import { LoginThrottle } from './login-throttle.js';
import { decoyHash, verifyPassword } from '../config/password-hash.js';

/** Admin tokens are short-lived: an hour, then sign in again. Role and password changes apply at once (see guardAdminRoutes). */
export const TOKEN_TTL_SECONDS = 3600;

const RANK: Record<Role, number> = { viewer: 0, editor: 1, admin: 2 };

interface AdminClaims {
  sub: string;
  /** For display and audit by modules that read request.user; authority comes from the store. */
  email: string;
  role: Role;
  /** Which password the token was issued under (see passwordStamp); a password change ends the token. */
  pwd: string;
}

/**
 * A stamp of the user's password hash, carried in every token and compared on every request, so
 * that changing a password signs that user out everywhere at once (a stolen token dies with the
 * old password). The hash holds a random salt, so the stamp tells nothing about the password.
 */
function passwordStamp(passwordHash: string): string {
  return createHash('sha256').update(passwordHash).digest('base64url').slice(0, 22);
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AdminClaims;
    user: AdminClaims;
  }
}

const unauthorized = (detail: string) => new ProblemError(401, 'unauthorized', detail, {}, { 'www-authenticate': 'Bearer' });

/** JWT signing/verification for admin tokens, with the store-kept secret. */
export async function registerAdminJwt(app: FastifyInstance, secret: string): Promise<void> {
  await app.register(fastifyJwt, { secret, sign: { expiresIn: TOKEN_TTL_SECONDS, algorithm: 'HS256' }, verify: { algorithms: ['HS256'] } });
}

/**
 * `POST /auth/login`, throttled per account+address (a few free failures) and per address
 * (a larger allowance, so one office behind one NAT does not lock itself out, while one host
 * guessing across many accounts still slows to a crawl).
 */
export function registerLoginRoute(
  app: FastifyInstance,
  deps: AdminDeps,
  throttles = { account: new LoginThrottle(), address: new LoginThrottle({ freeAttempts: 30 }) },
): void {
  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign in; returns a bearer token',
        security: [],
        body: LoginBody,
        response: { 200: LoginResponse, 401: ProblemSchema, 429: ProblemSchema },
      },
    },
    async (request) => {
      const { email, password } = request.body as { email: string; password: string };
      const address = request.ip;
      const accountKey = `${email.toLowerCase()}|${address}`;
      const wait = Math.max(throttles.account.waitMs(accountKey), throttles.address.waitMs(address));
      if (wait > 0)
        throw new ProblemError(429, 'login-throttled', 'too many failed sign-ins; wait before trying again', {}, { 'retry-after': String(Math.ceil(wait / 1000)) });
      const state = await deps.service.read();
      const user = state.users.find((u) => constantTimeEquals(u.email, email.toLowerCase()));
      // Unknown emails cost a full scrypt too, so timing does not tell which emails exist.
      const ok = user ? await verifyPassword(password, user.passwordHash) : (await verifyPassword(password, await decoyHash())) && false;
      if (!user || !ok) {
        throttles.account.failure(accountKey);
        throttles.address.failure(address);
        request.log.info({ email, address, outcome: 'refused' }, 'admin sign-in');
        throw unauthorized('email or password is wrong');
      }
      throttles.account.success(accountKey);
      request.log.info({ email: user.email, address, outcome: 'ok' }, 'admin sign-in');
      const token = await app.jwt.sign({ sub: user.id, email: user.email, role: user.role, pwd: passwordStamp(user.passwordHash) });
      return { token, expiresIn: TOKEN_TTL_SECONDS, tokenType: 'Bearer' as const };
    },
  );
}

function constantTimeEquals(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * onRequest for every API route but login: a valid token, of a user that still exists, issued
 * under the user's current password, with a role the route allows. The role is read from the store, not the token, so demoting or deleting
 * a user takes effect on their next request. Runs before the body is parsed: 401 and 403 come
 * before 400.
 */
export function guardAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.decorateRequest('adminUser', undefined);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    let claims: AdminClaims;
    try {
      claims = await request.jwtVerify<AdminClaims>();
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw unauthorized(code === 'FST_JWT_NO_AUTHORIZATION_IN_HEADER' ? 'sign in first: send Authorization: Bearer <token> from POST /api/v1/auth/login' : 'the bearer token is invalid or expired; sign in again');
    }
    const state = await deps.service.read();
    const user = state.users.find((u) => u.id === claims.sub);
    if (!user) throw unauthorized('the user of this token no longer exists');
    if (typeof claims.pwd !== 'string' || !constantTimeEquals(claims.pwd, passwordStamp(user.passwordHash)))
      throw unauthorized('the password of this account changed after the token was issued; sign in again');
    request.adminUser = { id: user.id, email: user.email, role: user.role };
    const needed = (request.routeOptions.config as AdminRouteConfig).minRole ?? (request.method === 'GET' || request.method === 'HEAD' ? 'viewer' : 'editor');
    if (RANK[user.role] < RANK[needed])
      throw new ProblemError(403, 'forbidden', `this needs the ${needed} role; ${user.email} is ${user.role}`);
  });
  app.get('/auth/me', { schema: { tags: ['auth'], summary: 'The signed-in user', response: { 200: Principal } } }, async (request) => request.adminUser!);
}
