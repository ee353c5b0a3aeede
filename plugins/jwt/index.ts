import fastifyJwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Route } from '../../spec/route.js';
import type { Caller, GenerationContext } from '../../gateway/src/generation/route-stage.js';
import type { ConfigState } from '../../gateway/src/store/port.js';
import { sharedService } from '../stage-plugin.js';
import { isAcceptableAlgorithm, issuersOf, JwksCache, type JwtIssuer } from './credentials.js';

/** Tolerated clock difference between the token's issuer and this node (exp, nbf). */
export const CLOCK_SKEW_MS = 30_000;

interface DecodedToken {
  header: { alg?: unknown; kid?: unknown };
  payload: { iss?: unknown };
}

const issuerIndexes = new WeakMap<ConfigState, Map<string, JwtIssuer>>();

/**
 * JWT verification for the auth stage, by @fastify/jwt (fast-jwt underneath). The token's
 * header and payload are decoded unverified only to find the credential by `iss`; the header's
 * `alg` must be the credential's pinned algorithm before any signature work, and fast-jwt also
 * refuses an algorithm the key's type cannot do, so `none` and an HS token checked against a
 * public key never verify. `exp` is required; `nbf` is honoured; both with CLOCK_SKEW_MS.
 */
export class JwtVerifier {
  private readonly issuers: Map<string, JwtIssuer>;

  constructor(ctx: GenerationContext) {
    let issuers = issuerIndexes.get(ctx.state);
    if (!issuers) {
      const jwks = sharedService(ctx.services, 'jwks', () => new JwksCache());
      issuers = issuersOf(ctx.state, jwks, ctx.services.logger);
      issuerIndexes.set(ctx.state, issuers);
    }
    this.issuers = issuers;
  }

  /** Adds @fastify/jwt, with a key looked up per token, to the scope every route with this route's audience shares. */
  async register(scope: FastifyInstance, route: Route): Promise<void> {
    const issuers = this.issuers;
    const secret = (_request: FastifyRequest, decoded: DecodedToken, done: (err: Error | null, key?: string) => void): void | Promise<string> => {
      const iss = decoded.payload?.iss;
      const issuer = typeof iss === 'string' ? issuers.get(iss) : undefined;
      const alg = decoded.header?.alg;
      if (issuer === undefined || !isAcceptableAlgorithm(issuer, alg)) {
        done(new Error('no credential for this issuer and algorithm'));
        return;
      }
      if (issuer.key !== undefined) {
        done(null, issuer.key);
        return;
      }
      const kid = decoded.header.kid;
      if (typeof kid !== 'string') {
        done(new Error('a JWKS credential needs a kid'));
        return;
      }
      return issuer.jwks!.getPublicKey({ domain: issuer.jwks!.domain, alg: alg as string, kid });
    };
    await scope.register(fastifyJwt, {
      secret: secret as never,
      decode: { complete: true },
      verify: {
        // fast-jwt checks a claim's value only when present: require aud where the route wants one.
        requiredClaims: route.jwtAudience ? ['exp', 'aud'] : ['exp'],
        clockTolerance: CLOCK_SKEW_MS,
        ...(route.jwtAudience ? { allowedAud: route.jwtAudience } : {}),
        // Verified tokens are remembered (until their exp) per key: repeat calls skip the signature.
        cache: 1000,
      },
    });
  }

  /** The caller the token proves, or undefined for any failure. Never throws. */
  verify(request: FastifyRequest, done: (caller: Caller | undefined) => void): void {
    request.jwtVerify(undefined as never, (err: Error | null, payload?: unknown) => {
      if (err || !payload) return done(undefined);
      const iss = (payload as { iss?: unknown }).iss;
      done(typeof iss === 'string' ? this.issuers.get(iss)?.caller : undefined);
    });
  }
}
