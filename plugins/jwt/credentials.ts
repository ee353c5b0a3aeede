import { createPublicKey } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import buildGetJwks from 'get-jwks';
import type { Consumer, JwtCredential } from '../../spec/consumer.js';
import type { Caller } from '../../gateway/src/generation/route-stage.js';
import type { ConfigState, Stored } from '../../gateway/src/store/port.js';

const HMAC = new Set(['HS256', 'HS384', 'HS512']);
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']);

/** One usable credential: who it belongs to, the one algorithm it accepts, where its key comes from. */
export interface JwtIssuer {
  caller: Caller;
  issuer: string;
  /** Pinned algorithm; undefined only for a JWKS credential without one (then: the JWK's, never HS*). */
  algorithm: string | undefined;
  /** Static HMAC secret or PEM public key. */
  key: string | undefined;
  jwks: JwksSource | undefined;
}

export interface JwksSource {
  getPublicKey(signature: { domain: string; alg: string; kid: string }): Promise<string>;
  domain: string;
}

/** What a PEM public key can verify, when the credential does not name an algorithm. */
function algorithmForKey(pem: string): string {
  const key = createPublicKey(pem);
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'rsa-pss':
      return 'PS256';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : 'ES256';
    }
    case 'ed25519':
      return 'EdDSA';
    default:
      throw new Error(`unsupported public key type ${key.asymmetricKeyType}`);
  }
}

/**
 * JWKS fetchers by URL, kept across generations so their key caches survive config reloads.
 * get-jwks fetches the set again when a token names a `kid` it has not cached (key rotation at
 * the IdP); unknown kids are remembered for a while so garbage tokens cannot hammer the IdP.
 */
export class JwksCache {
  private readonly sources = new Map<string, JwksSource>();

  source(url: string): JwksSource {
    let source = this.sources.get(url);
    if (!source) {
      const parsed = new URL(url);
      const getJwks = buildGetJwks({ jwksPath: parsed.pathname + parsed.search, ttl: 10 * 60_000, max: 100 });
      const missing = new Map<string, number>();
      source = {
        domain: parsed.origin + '/',
        async getPublicKey(signature) {
          const until = missing.get(signature.kid);
          if (until !== undefined && until > Date.now()) throw new Error('unknown kid (recently looked up)');
          try {
            return await getJwks.getPublicKey(signature);
          } catch (err) {
            if (missing.size > 1000) missing.clear();
            missing.set(signature.kid, Date.now() + 30_000);
            throw err;
          }
        },
      };
      this.sources.set(url, source);
    }
    return source;
  }
}

function issuerFor(consumer: Stored<Consumer>, cred: JwtCredential, jwks: JwksCache): JwtIssuer {
  const caller: Caller = { id: consumer.id, name: consumer.name, consumer };
  if (cred.secret) {
    const algorithm = cred.algorithm ?? 'HS256';
    if (!HMAC.has(algorithm)) throw new Error(`a secret verifies HS256/384/512 only, not ${algorithm}`);
    return { caller, issuer: cred.issuer, algorithm, key: cred.secret, jwks: undefined };
  }
  if (cred.publicKey) {
    const algorithm = cred.algorithm ?? algorithmForKey(cred.publicKey);
    // A public key used as an HMAC secret is the classic algorithm-confusion attack.
    if (!ASYMMETRIC.has(algorithm)) throw new Error(`a public key verifies RS/PS/ES/EdDSA only, not ${algorithm}`);
    return { caller, issuer: cred.issuer, algorithm, key: cred.publicKey, jwks: undefined };
  }
  if (cred.jwksUrl) {
    if (cred.algorithm && !ASYMMETRIC.has(cred.algorithm)) throw new Error(`a JWKS verifies RS/PS/ES/EdDSA only, not ${cred.algorithm}`);
    return { caller, issuer: cred.issuer, algorithm: cred.algorithm, key: undefined, jwks: jwks.source(cred.jwksUrl) };
  }
  throw new Error('needs one of secret, publicKey, jwksUrl');
}

/** Credentials by `iss`, built once per generation. Unusable ones are logged and left out. */
export function issuersOf(state: ConfigState, jwks: JwksCache, logger: FastifyBaseLogger): Map<string, JwtIssuer> {
  const byIssuer = new Map<string, JwtIssuer>();
  for (const consumer of state.consumers) {
    for (const cred of consumer.jwt ?? []) {
      try {
        if (byIssuer.has(cred.issuer)) {
          logger.warn({ consumer: consumer.name, issuer: cred.issuer }, 'JWT issuer already belongs to another consumer; this credential is ignored');
          continue;
        }
        byIssuer.set(cred.issuer, issuerFor(consumer, cred, jwks));
      } catch (err) {
        logger.error({ consumer: consumer.name, issuer: cred.issuer, reason: (err as Error).message }, 'JWT credential unusable; tokens from this issuer are refused');
      }
    }
  }
  return byIssuer;
}

export function isAcceptableAlgorithm(issuer: JwtIssuer, alg: unknown): boolean {
  if (typeof alg !== 'string') return false;
  if (issuer.algorithm !== undefined) return alg === issuer.algorithm;
  return ASYMMETRIC.has(alg);
}
