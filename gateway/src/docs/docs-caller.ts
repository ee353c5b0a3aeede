import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Route } from '../../../spec/route.js';
import { ApiKeyVerifier } from '../../../plugins/api-key/index.js';
import { JwtVerifier } from '../../../plugins/jwt/index.js';
import { unauthorized } from '../../../plugins/stage-plugin.js';
import type { GenerationContext } from '../generation/route-stage.js';
import { KEY_MARKER } from '../keys/api-key.js';
import type { DocsAudience } from './openapi-document.js';

/** Who is asking for the document: nobody (the public one), a verified partner, or a refusal. */
export type DocsCaller = (request: FastifyRequest) => Promise<DocsAudience | undefined>;

/** What the auth stage would take as a bearer token: `Bearer <token>`, any case. */
function bearer(value: string): string | undefined {
  const match = /^bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

/**
 * Resolve the credentials sent to `/docs/openapi.json` exactly as a route's auth stage does —
 * the generation's key index (constant-time HMAC comparison) and the same JWT verifier — so the
 * document answers "what may this key call" with the gateway's own rules. No credentials at all
 * → the public document; any credential that does not verify → the same 401 as everywhere,
 * which says nothing about which routes exist.
 */
export async function docsCaller(scope: FastifyInstance, ctx: GenerationContext): Promise<DocsCaller> {
  const keys = new ApiKeyVerifier(ctx);
  let jwt: JwtVerifier | undefined;
  // @fastify/jwt is only worth registering when some partner has a JWT credential.
  if (ctx.state.consumers.some((c) => c.jwt?.length)) {
    jwt = new JwtVerifier(ctx);
    await jwt.register(scope, { jwtAudience: undefined } as Route);
  }

  return async (request) => {
    const headerKey = request.headers['x-api-key'];
    const authorization = request.headers.authorization;
    if (headerKey === undefined && authorization === undefined) return undefined;
    if (headerKey !== undefined) {
      const caller = typeof headerKey === 'string' ? keys.verify(headerKey) : undefined;
      if (!caller) throw unauthorized();
      return { consumer: caller.consumer, credential: 'api-key' };
    }
    const token = bearer(authorization!);
    if (token === undefined) throw unauthorized();
    if (token.startsWith(KEY_MARKER) || jwt === undefined) {
      const caller = keys.verify(token);
      if (!caller) throw unauthorized();
      return { consumer: caller.consumer, credential: 'api-key' };
    }
    const verifier = jwt;
    const caller = await new Promise<ReturnType<typeof keys.verify>>((resolve) => verifier.verify(request, resolve));
    if (!caller) throw unauthorized();
    // @fastify/jwt leaves the verified claims on request.user.
    const aud = (request as { user?: { aud?: unknown } }).user?.aud;
    const audiences = (Array.isArray(aud) ? aud : [aud]).filter((a): a is string => typeof a === 'string').sort();
    return { consumer: caller.consumer, credential: 'jwt', audiences };
  };
}
